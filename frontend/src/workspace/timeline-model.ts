/**
 * The video timeline as data (GET /api/assets/{id}/timeline/): which frames of each track
 * are keyframes (a person's mask), propagated, or flagged for review; the confidence per
 * frame; track colours; frame times. Pure: no DOM, unit tested.
 */

/** [frame, source, review_status, score | null, annotation id] */
export type FrameEntry = [number, string, string, number | null, number];

export interface TimelineTrack {
  track: number;
  label: number;
  frames: FrameEntry[];
}

export interface Timeline {
  num_frames: number;
  fps: number | null;
  /** Seconds of each frame (presentation time), when the container gave them. */
  timestamps: number[] | null;
  tracks: TimelineTrack[];
}

export type FrameKind = "keyframe" | "propagated" | "flagged";

/** The tracks flagged on `frame`, `preferred` first when it is one of them. */
export function flaggedTracks(timeline: Timeline, frame: number, preferred: number | null = null): number[] {
  const tracks = timeline.tracks
    .filter((t) => t.frames.some(([f, source, review]) => f === frame && frameKind(source, review) === "flagged"))
    .map((t) => t.track);
  return preferred !== null && tracks.includes(preferred) ? [preferred, ...tracks.filter((t) => t !== preferred)] : tracks;
}

/**
 * As the server plans propagation: a keyframe is a mask a person made (any source but
 * "propagated") or accepted; a propagated mask is flagged while it needs review. A
 * person's correction answers the flag, so it shows as a keyframe whatever its status.
 */
export function frameKind(source: string, reviewStatus: string): FrameKind {
  if (source !== "propagated" || reviewStatus === "accepted") return "keyframe";
  return reviewStatus === "needs_review" ? "flagged" : "propagated";
}

/** Every flagged frame of the timeline (any track), ascending, without repeats. */
export function flaggedFrames(timeline: Timeline): number[] {
  const frames = new Set<number>();
  for (const track of timeline.tracks) {
    for (const [frame, source, review] of track.frames) if (frameKind(source, review) === "flagged") frames.add(frame);
  }
  return [...frames].sort((a, b) => a - b);
}

/**
 * The next flagged frame after `from` (before it when `step` is -1), wrapping around the
 * video; null when no frame is flagged. `from` itself counts only when it is the only one.
 */
export function nextFlagged(timeline: Timeline, from: number, step: 1 | -1 = 1): number | null {
  const flagged = flaggedFrames(timeline);
  if (flagged.length === 0) return null;
  if (step > 0) return flagged.find((f) => f > from) ?? flagged[0]!;
  for (let i = flagged.length - 1; i >= 0; i--) if (flagged[i]! < from) return flagged[i]!;
  return flagged[flagged.length - 1]!;
}

/**
 * Confidence per frame for the strip: the lowest over the tracks present on that frame,
 * a keyframe counting as 1 (a person drew it); NaN where no track has a mask or no score.
 */
export function frameConfidence(timeline: Timeline): Float32Array {
  const out = new Float32Array(timeline.num_frames).fill(NaN);
  for (const track of timeline.tracks) {
    for (const [frame, source, review, score] of track.frames) {
      if (frame < 0 || frame >= out.length) continue;
      const kind = frameKind(source, review);
      const value = kind === "keyframe" ? 1 : score;
      if (value === null || !Number.isFinite(value)) continue;
      const previous = out[frame]!;
      out[frame] = Number.isNaN(previous) ? value : Math.min(previous, value);
    }
  }
  return out;
}

/** The track's entry on a frame, if it has one. */
export function entryAt(track: TimelineTrack, frame: number): FrameEntry | undefined {
  return track.frames.find((entry) => entry[0] === frame);
}

/** Red (0) through amber to green (1). */
export function confidenceColor(score: number): string {
  const s = Math.min(1, Math.max(0, score));
  return hslToHex(s * 120, 0.7, 0.45);
}

/** A distinct, stable colour per track number (golden-angle hues), as "#rrggbb". */
export function trackColor(track: number): string {
  const hue = (track * 137.508 + 200) % 360;
  const light = track % 2 === 0 ? 0.5 : 0.6;
  return hslToHex(hue, 0.8, light);
}

export function hslToHex(hue: number, saturation: number, lightness: number): string {
  const a = saturation * Math.min(lightness, 1 - lightness);
  const channel = (n: number): string => {
    const k = (n + hue / 30) % 12;
    const value = lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(value * 255)
      .toString(16)
      .padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

/** Seconds at which `frame` is shown: its timestamp, else frame / fps; null if unknown. */
export function frameTime(frame: number, fps: number | null, timestamps: number[] | null): number | null {
  const stamp = timestamps?.[frame];
  if (stamp !== undefined && Number.isFinite(stamp)) return stamp;
  return fps !== null && fps > 0 ? frame / fps : null;
}

/** "1:02.50" */
export function formatTime(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  const rest = seconds - minutes * 60;
  return `${minutes}:${rest.toFixed(2).padStart(5, "0")}`;
}

/** The frame under a horizontal position (0..1 across the strip) of `count` frames. */
export function frameAtFraction(fraction: number, count: number): number {
  if (count <= 1) return 0;
  return Math.min(count - 1, Math.max(0, Math.floor(fraction * count)));
}

/** Which frame should be on screen `elapsedMs` after playing started at `startFrame`. */
export function playbackFrame(startFrame: number, elapsedMs: number, fps: number): number {
  return startFrame + Math.floor((Math.max(0, elapsedMs) * fps) / 1000);
}

/** Frames to load ahead of (and a few behind) `frame`, nearest first, inside the video. */
export function preloadOrder(frame: number, count: number, ahead = 8, behind = 2): number[] {
  const order: number[] = [];
  for (let d = 1; d <= Math.max(ahead, behind); d++) {
    if (d <= ahead && frame + d < count) order.push(frame + d);
    if (d <= behind && frame - d >= 0) order.push(frame - d);
  }
  return order;
}
