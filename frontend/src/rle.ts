/**
 * COCO run-length encoding, as pycocotools writes it.
 *
 * A mask of height h and width w is read column by column (column-major, "Fortran
 * order"); `counts` alternates runs of 0s and 1s, starting with 0s (possibly a run of
 * length 0). The compressed string stores each count as a little-endian sequence of
 * 5-bit groups, one character per group (char = group + 48, bit 0x20 = "more groups
 * follow", bit 0x10 of the last group = sign). From the third count on, what is stored
 * is the difference to the count two places before, which is small for smooth shapes.
 *
 * Pure functions only: no DOM, so they run under `node --test` as well.
 */

export interface Rle {
  size: [number, number]; // [height, width]
  counts: string;
}

/** Compressed counts string -> run lengths. Throws on a malformed string. */
export function decodeCounts(text: string): number[] {
  const counts: number[] = [];
  let pos = 0;
  while (pos < text.length) {
    let value = 0;
    let group = 0;
    let more = true;
    while (more) {
      if (pos >= text.length) throw new Error("truncated RLE string");
      const c = text.charCodeAt(pos) - 48;
      if (c < 0 || c > 63) throw new Error(`invalid RLE character at ${pos}`);
      value += (c & 0x1f) * 32 ** group;
      more = (c & 0x20) !== 0;
      pos += 1;
      group += 1;
      if (!more && (c & 0x10) !== 0) value -= 32 ** group; // sign-extend
    }
    if (counts.length > 2) value += counts[counts.length - 2]!;
    counts.push(value);
  }
  return counts;
}

/** Run lengths -> compressed counts string (byte-identical to pycocotools). */
export function encodeCounts(counts: ArrayLike<number>): string {
  const chars: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    let value = counts[i]!;
    if (i > 2) value -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = ((value % 32) + 32) % 32;
      value = Math.floor(value / 32);
      more = (c & 0x10) !== 0 ? value !== -1 : value !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
    }
  }
  // Chunked to stay below the argument limit of String.fromCharCode.
  let out = "";
  for (let i = 0; i < chars.length; i += 8192) {
    out += String.fromCharCode(...chars.slice(i, i + 8192));
  }
  return out;
}

/** A row-major 0/1 mask (as ImageData and canvases use) -> run lengths, column-major. */
export function maskToCounts(mask: Uint8Array, height: number, width: number): number[] {
  if (mask.length !== height * width) throw new Error("mask length does not match its size");
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0, i = x; y < height; y++, i += width) {
      const bit = mask[i] ? 1 : 0;
      if (bit !== current) {
        counts.push(run);
        run = 0;
        current = bit;
      }
      run += 1;
    }
  }
  counts.push(run);
  return counts;
}

/** Run lengths (column-major) -> a row-major 0/1 mask. */
export function countsToMask(counts: ArrayLike<number>, height: number, width: number): Uint8Array {
  const mask = new Uint8Array(height * width);
  forEachRun(counts, height, (x, y0, y1) => {
    for (let y = y0, i = y0 * width + x; y < y1; y++, i += width) mask[i] = 1;
  });
  return mask;
}

/**
 * Calls `visit(x, y0, y1)` for every vertical segment of foreground (rows y0..y1-1 of
 * column x). Runs spanning several columns are split at column boundaries.
 */
export function forEachRun(
  counts: ArrayLike<number>,
  height: number,
  visit: (x: number, y0: number, y1: number) => void,
): void {
  let offset = 0;
  for (let k = 0; k < counts.length; k++) {
    const length = counts[k]!;
    if (k % 2 === 1 && length > 0) {
      let start = offset;
      const end = offset + length;
      while (start < end) {
        const x = Math.floor(start / height);
        const y0 = start - x * height;
        const y1 = Math.min(height, y0 + (end - start));
        visit(x, y0, y1);
        start += y1 - y0;
      }
    }
    offset += length;
  }
}

export interface BBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Tight bounding box of the foreground, or null for an empty mask. */
export function countsBBox(counts: ArrayLike<number>, height: number): BBox | null {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  forEachRun(counts, height, (x, top, bottom) => {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (top < y0) y0 = top;
    if (bottom > y1) y1 = bottom;
  });
  if (x0 === Infinity) return null;
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 };
}

export function countsArea(counts: ArrayLike<number>): number {
  let area = 0;
  for (let k = 1; k < counts.length; k += 2) area += counts[k]!;
  return area;
}

export function decodeRle(rle: Rle): Uint8Array {
  const [height, width] = rle.size;
  const counts = decodeCounts(rle.counts);
  const total = countsArea(counts) + counts.reduce((sum, c, k) => (k % 2 ? sum : sum + c), 0);
  if (total !== height * width) throw new Error(`RLE covers ${total} pixels, not ${height * width}`);
  return countsToMask(counts, height, width);
}

export function encodeRle(mask: Uint8Array, height: number, width: number): Rle {
  return { size: [height, width], counts: encodeCounts(maskToCounts(mask, height, width)) };
}
