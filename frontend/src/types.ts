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
  /** Annotation counts of the asset (all frames), from the asset list. */
  progress?: AssetProgress;
}

export interface AssetProgress {
  annotations: number;
  pending: number;
  needs_review: number;
  accepted: number;
  rejected: number;
  generated: number;
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
  /** The reviewer's reason when rejected; set by POST /api/annotations/{id}/review/. */
  review_comment?: string;
  reviewed_by?: string | null;
  reviewed_at?: string | null;
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

// --- the learning loop ------------------------------------------------------------------

export type Strategy = "random" | "entropy" | "margin" | "sensitivity" | "diversity" | "combined";
export const STRATEGIES: Strategy[] = ["combined", "entropy", "margin", "sensitivity", "diversity", "random"];

/** GET /api/projects/{id}/queue/next/ (200; 204 is "nothing left"). */
export interface QueueItem {
  item: number;
  asset: number;
  asset_name?: string;
  frame: number;
  score: number;
  strategy: string;
  lease_expires: string | null;
  reason: "model" | "rework";
  model_version: number | null;
  done?: boolean;
  /** The reviewer's comment when the frame came back after a rejection ("" otherwise). */
  comment?: string;
}

export interface ModelMetrics {
  miou: number | null;
  per_label?: Record<string, number | null>;
  frames?: number;
}

export interface ModelVersion {
  version: number;
  trained_on: number;
  num_labels: number;
  metrics: ModelMetrics;
  created: string;
}

/** GET /api/projects/{id}/model/ */
export interface ProjectModelState {
  status: "none" | "training" | "ready" | "failed";
  version: number | null;
  kind: string | null;
  trained_on: number;
  num_labels: number;
  metrics: ModelMetrics;
  updated: string | null;
  job: number | null;
  labels_since: number;
  retrain_after: number;
  history: ModelVersion[];
}

export interface EfficiencyPoint {
  version: number;
  num_labels: number;
  trained_on: number;
  miou: number | null;
}

/** GET /api/projects/{id}/dashboard/ */
export interface Dashboard {
  assets: number;
  frames: number;
  frames_labelled: number;
  annotations: {
    total: number;
    by_status: Record<string, number>;
    by_source: Record<string, number>;
  };
  labels: (Label & { annotations: number })[];
  queue: { open: number; leased: number; done: number };
  model: ProjectModelState;
  efficiency: EfficiencyPoint[];
}
