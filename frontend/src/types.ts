/** Shapes of the REST API (docs/api.md). */

import type { Rle } from "./rle.js";

export type Role = "owner" | "annotator" | "reviewer" | "viewer";
export type Engine = "auto" | "classical" | "sam";

export interface Label {
  id: number;
  name: string;
  color: string;
}

export interface Project {
  id: number;
  name: string;
  description: string;
  labels: Label[];
  role: Role | null;
  num_assets?: number;
  created: string;
}

export interface Member {
  id: number;
  username: string;
  role: Role;
}

/** GET /api/assets/{id}/neighbors/ */
export interface Neighbors {
  previous: number | null;
  next: number | null;
  index: number;
  count: number;
}

export interface Asset {
  id: number;
  project: number;
  kind: string;
  name: string;
  width: number;
  height: number;
  num_frames: number;
  /** Frames per second (videos); null when unknown or for images. */
  fps?: number | null;
  status: string;
  /** Why ingestion failed (status "failed"). */
  error?: string;
  error_code?: string;
  embedding_status: string;
  thumbnail: string | null;
  image: string;
  created: string;
}

export interface Job {
  id: number;
  project: number;
  asset: number | null;
  kind: string;
  status: "queued" | "running" | "done" | "failed" | "cancelled";
  progress: number;
  message: string;
  error: string;
  result?: Record<string, unknown> | null;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface Click {
  x: number;
  y: number;
  positive: boolean;
}

export interface Scribble {
  points: [number, number][];
  positive: boolean;
}

export type Box = [number, number, number, number];

export interface Interaction {
  prompts: unknown;
  engine: string;
  elapsed_ms: number | null;
}

export interface Annotation {
  id: number;
  asset: number;
  frame: number;
  /** The object across frames (the same number on every frame of a video). */
  track: number;
  label: number;
  mask: Rle;
  area: number;
  bbox: number[];
  source: string;
  score: number | null;
  review_status: string;
  author: string | null;
  version: number;
  interaction: Interaction | null;
  updated: string;
}

export interface PredictRequest {
  frame: number;
  engine: Engine;
  clicks?: Click[];
  box?: Box;
  scribbles?: Scribble[];
  mask?: Rle;
}

export interface PredictResponse {
  mask: Rle;
  score: number;
  engine: string;
  elapsed_ms: number;
  embedding?: string;
  prompts?: unknown;
}
