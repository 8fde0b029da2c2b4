import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  countsArea,
  countsBBox,
  countsToMask,
  decodeCounts,
  decodeRle,
  encodeCounts,
  encodeRle,
  maskToCounts,
} from "../src/rle.js";

interface Case {
  name: string;
  size: [number, number];
  counts: string;
  area: number;
  bbox: [number, number, number, number];
  bits: string | null;
}

// Compiled to .test-build/tests/, the fixtures stay in the source tree.
const fixtureUrl = new URL("../../tests/fixtures/rle_cases.json", import.meta.url);
const cases = JSON.parse(readFileSync(fixtureUrl, "utf8")) as Case[];

function unpackBits(base64: string, length: number): Uint8Array {
  const packed = Buffer.from(base64, "base64");
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (packed[i >> 3]! >> (7 - (i & 7))) & 1;
  return out;
}

for (const c of cases) {
  test(`pycocotools fixture "${c.name}": decode, bbox, area, re-encode`, () => {
    const [h, w] = c.size;
    const counts = decodeCounts(c.counts);
    assert.equal(counts.reduce((a, b) => a + b, 0), h * w);
    assert.equal(countsArea(counts), c.area);
    const box = countsBBox(counts, h);
    if (c.area === 0) assert.equal(box, null);
    else assert.deepEqual([box!.x, box!.y, box!.width, box!.height], c.bbox);
    assert.equal(encodeCounts(counts), c.counts);
    if (c.bits !== null) {
      const expected = unpackBits(c.bits, h * w);
      assert.deepEqual(decodeRle({ size: c.size, counts: c.counts }), expected);
      assert.equal(encodeRle(expected, h, w).counts, c.counts, "encode matches pycocotools");
    }
  });
}

test("a mask survives encode -> decode for random shapes", () => {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let trial = 0; trial < 50; trial++) {
    const h = 1 + Math.floor(random() * 40);
    const w = 1 + Math.floor(random() * 40);
    const density = random();
    const mask = new Uint8Array(h * w).map(() => (random() < density ? 1 : 0));
    const rle = encodeRle(mask, h, w);
    assert.deepEqual(decodeRle(rle), mask);
  }
});

test("counts are column-major", () => {
  // 2x3 mask, row-major [[1,0,0],[1,0,1]]: columns read top to bottom.
  const mask = Uint8Array.from([1, 0, 0, 1, 0, 1]);
  assert.deepEqual(maskToCounts(mask, 2, 3), [0, 2, 3, 1]);
  assert.deepEqual(countsToMask([0, 2, 3, 1], 2, 3), mask);
});

test("large counts and negative deltas round trip", () => {
  const counts = [0, 8_000_000, 3, 100, 1, 5_000_000, 2];
  assert.deepEqual(decodeCounts(encodeCounts(counts)), counts);
});

test("malformed strings and wrong sizes are rejected", () => {
  assert.throws(() => decodeCounts("\u0001"), /invalid RLE character/);
  assert.throws(() => decodeCounts("o"), /truncated/); // 'o' = 63: "more" bit set, nothing follows
  assert.throws(() => decodeRle({ size: [3, 3], counts: encodeCounts([0, 4]) }), /covers 4/);
});
