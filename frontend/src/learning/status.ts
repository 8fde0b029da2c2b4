/**
 * How the learning loop's annotation states read in the UI: which masks are the model's
 * proposals, which need a person's look, what an asset's progress looks like, how long a
 * queue lease has left. Pure functions (unit-tested), shared by the workspace and pages.
 */

import type { AssetProgress } from "../types.js";

/** How a mask is drawn: proposals and flagged masks must never pass for accepted ones. */
export type MaskStyle = "solid" | "proposal" | "flagged" | "rejected";

export interface Reviewable {
  source: string;
  review_status: string;
  score?: number | null;
}

/**
 * The kind of an annotation for display. A reviewer's verdict wins over the source: a
 * proposal someone accepted is an ordinary (solid) mask from then on.
 */
export function annotationStyle(a: Reviewable): MaskStyle {
  if (a.review_status === "needs_review") return "flagged";
  if (a.review_status === "rejected") return "rejected";
  if (a.review_status === "accepted") return "solid";
  return a.source === "generated" ? "proposal" : "solid";
}

export interface Badge {
  text: string;
  kind: "proposal" | "flagged" | "rejected" | "accepted";
  title: string;
}

export function formatScore(score: number | null | undefined): string {
  return score === null || score === undefined || !Number.isFinite(score) ? "–" : score.toFixed(2);
}

/** The badge of an annotation in the object list; null for a plain mask nobody reviewed. */
export function annotationBadge(a: Reviewable): Badge | null {
  switch (annotationStyle(a)) {
    case "proposal":
      return { text: `proposal ${formatScore(a.score)}`, kind: "proposal", title: "Proposed by the project model, not reviewed yet (score: its confidence)" };
    case "flagged":
      return { text: "⚑ review", kind: "flagged", title: "Needs review" };
    case "rejected":
      return { text: "rejected", kind: "rejected", title: "Rejected in review" };
    default:
      return a.review_status === "accepted" ? { text: "✓", kind: "accepted", title: "Accepted in review" } : null;
  }
}

export interface ProgressSegment {
  kind: "accepted" | "pending" | "needs_review" | "rejected";
  count: number;
  /** Share of the asset's annotations, 0..1. */
  fraction: number;
}

/** The stacked bar and the one-line summary of an asset card. */
export function progressSummary(p: AssetProgress): { text: string; segments: ProgressSegment[]; state: string } {
  const total = Math.max(0, p.annotations);
  const kinds: ProgressSegment["kind"][] = ["accepted", "pending", "needs_review", "rejected"];
  const segments = kinds
    .map((kind) => ({ kind, count: Math.max(0, p[kind] ?? 0), fraction: total > 0 ? Math.max(0, p[kind] ?? 0) / total : 0 }))
    .filter((s) => s.count > 0);
  const parts = [`${total} annotation${total === 1 ? "" : "s"}`];
  if (p.pending) parts.push(`${p.pending} pending`);
  if (p.needs_review) parts.push(`${p.needs_review} to review`);
  if (p.accepted) parts.push(`${p.accepted} accepted`);
  if (p.generated) parts.push(`${p.generated} proposed`);
  const state = total === 0 ? "unlabelled" : p.needs_review > 0 ? "needs_review" : p.pending > 0 ? "pending" : "accepted";
  return { text: parts.join(" · "), segments, state };
}

/** "lease: 14 min left" until `expires` (ISO); "lease expired" after it. */
export function leaseText(expires: string | null, now: number): string {
  if (expires === null) return "no lease";
  const left = Date.parse(expires) - now;
  if (!Number.isFinite(left)) return "no lease";
  if (left <= 0) return "lease expired";
  const seconds = Math.round(left / 1000);
  if (seconds < 90) return `lease: ${seconds} s left`;
  return `lease: ${Math.round(seconds / 60)} min left`;
}
