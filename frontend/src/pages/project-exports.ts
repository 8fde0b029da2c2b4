/** Project page: the export panel (format, images or not) and the latest exports with
 * their download links. The export itself is a job on the server (see docs/api.md). */

import { api, describeError } from "../api.js";
import { $, el, formatBytes, onSubmit, toast } from "../ui.js";

interface ExportRow {
  id: number;
  job: number;
  format: string;
  status: string;
  size_bytes: number;
  download: string | null;
  created: string;
  counts: { images?: number; annotations?: number };
}

let timer = 0;

/** Renders the latest exports; keeps polling while one is still running. */
export async function renderExports(projectId: number): Promise<void> {
  window.clearTimeout(timer);
  const page = await api.get<{ results: ExportRow[] }>(`/api/projects/${projectId}/exports/?page_size=5`);
  const list = $("#exports");
  list.replaceChildren();
  if (page.results.length === 0) list.append(el("li", { class: "muted" }, "No exports yet"));
  for (const row of page.results) {
    const when = new Date(row.created).toLocaleString();
    const what =
      row.download !== null
        ? el("a", { href: row.download, download: "" }, `${row.format}.zip`)
        : el("span", {}, row.format);
    const detail =
      row.status === "done"
        ? `${row.counts.annotations ?? 0} masks · ${formatBytes(row.size_bytes)}`
        : row.status;
    list.append(el("li", { class: "export-row" }, what, el("span", { class: "muted small" }, ` ${detail} · ${when}`)));
  }
  if (page.results.some((row) => row.status === "queued" || row.status === "running")) {
    timer = window.setTimeout(() => void renderExports(projectId), 1500);
  }
}

export function wireExportForm(projectId: number): void {
  const form = $("#new-export") as HTMLFormElement;
  onSubmit(form, async (data) => {
    try {
      await api.post(`/api/projects/${projectId}/exports/`, {
        format: String(data.get("format")),
        include_images: data.get("include_images") !== null,
      });
      toast("Export started: it appears below when ready.");
      await renderExports(projectId);
    } catch (error) {
      toast(`Export not started: ${describeError(error)}`, "error");
    }
  });
}
