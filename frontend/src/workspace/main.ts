/**
 * Entry point of the annotation workspace page: loads the project, the asset, its image
 * and annotations, builds the renderer and the workspace, and wires the DOM (toolbar,
 * panel, status bar, keyboard, dialogs). `window.__app` exposes state for tests.
 */

import { api, describeError, sleep } from "../api.js";
import { MaskLayer } from "../masks.js";
import { Renderer } from "../renderer.js";
import type { Asset, Engine, Neighbors, Project } from "../types.js";
import { $, el, toast } from "../ui.js";
import { actualSize, zoomAt } from "../view.js";
import { loadBackup, loadPrefs, savePrefs } from "./backup.js";
import { Workspace } from "./controller.js";
import { renderInstances } from "./instances.js";
import { actionFor, buildHelp, type Action } from "./keys.js";
import { Operations, type ConflictChoice, type ConflictInfo } from "./ops.js";
import { renderDraft, renderSave, renderStatus, renderView } from "./panels.js";
import { parseMode } from "../learning/queue-model.js";
import { QueueMode } from "./queue.js";
import { ReviewMode } from "./review.js";
import { AnnotationStore } from "./store.js";
import type { ToolName } from "./tools.js";
import { VideoController } from "./video.js";

const root = $("#workspace");
const projectId = Number(root.dataset.projectId);
const assetId = Number(root.dataset.assetId);
const prefs = loadPrefs({ tool: "click" as ToolName, engine: "auto" as Engine, opacity: 0.55, brush: 12, labels: {} as Record<string, number>, strategy: "combined" });
const ENGINES: Engine[] = ["auto", "classical", "sam"];

function loadImage(url: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.decoding = "async";
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the image could not be loaded"));
    image.src = url;
  });
}

function askConflict(info: ConflictInfo): Promise<ConflictChoice> {
  const dialog = $("#conflict") as HTMLDialogElement;
  $("#conflict-text").textContent =
    `Annotation #${info.id} was changed by ${info.current.author ?? "someone else"} while you worked on it ` +
    `(you had version ${info.yourVersion}, the server now has version ${info.current.version}). ` +
    "Your change is not saved yet.";
  dialog.showModal();
  return new Promise((resolve) => {
    const done = (choice: ConflictChoice): void => {
      dialog.removeEventListener("click", onClick);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      resolve(choice);
    };
    const onClick = (event: Event): void => {
      const choice = (event.target as HTMLElement).closest<HTMLElement>("[data-choice]")?.dataset.choice;
      if (choice) done(choice as ConflictChoice);
    };
    const onCancel = (event: Event): void => {
      event.preventDefault();
      done("keep");
    };
    dialog.addEventListener("click", onClick);
    dialog.addEventListener("cancel", onCancel);
  });
}

/** A video still being decoded: wait for it here (the page opens once it is ready). */
async function whenReady(asset: Asset, message: HTMLElement): Promise<Asset> {
  while (asset.status === "processing") {
    message.textContent = `Processing ${asset.name}… the workspace opens when it is ready.`;
    await sleep(1000);
    asset = await api.get<Asset>(`/api/assets/${asset.id}/`, { retries: 3 });
  }
  if (asset.status === "failed") {
    throw new Error(`it could not be processed: ${asset.error || "unknown error"}${asset.error_code ? ` (${asset.error_code})` : ""}`);
  }
  return asset;
}

/** `#frame=12` in the address opens a video on that frame (kept up to date while working). */
function frameFromHash(): number {
  const match = /(?:^#|&)frame=(\d+)/.exec(location.hash);
  return match ? Number(match[1]) : 0;
}

async function main(): Promise<void> {
  const message = $("#stage-message");
  const [project, loaded] = await Promise.all([
    api.get<Project>(`/api/projects/${projectId}/`, { retries: 3 }),
    api.get<Asset>(`/api/assets/${assetId}/`, { retries: 3 }),
  ]);
  const asset = await whenReady(loaded, message);
  const isVideo = asset.num_frames > 1;
  $("#crumb-project").textContent = project.name;
  $("#crumb-asset").textContent = asset.name;
  document.title = `${asset.name} · ${project.name} · Annotator`;

  const renderer = new Renderer($("#canvas") as HTMLCanvasElement);
  renderer.layer = new MaskLayer(asset.width, asset.height);
  renderer.opacity = prefs.opacity;
  const store = new AnnotationStore(asset.id, project.labels, 0, isVideo);
  const ws = new Workspace(asset, renderer, store);
  let video: VideoController | null = null;
  const ops = new Operations(ws, askConflict, (state) => {
    renderSave(state);
    if (state.kind === "failed") toast(`Not saved: ${state.message}`, "error");
    if (state.kind === "saved") video?.afterSave();
  });
  ws.engine = prefs.engine;
  ws.tool = prefs.tool;
  ws.brushRadius = prefs.brush;
  ws.activeLabel = prefs.labels[String(projectId)] ?? ws.activeLabel;
  if (store.label(ws.activeLabel) === undefined) ws.activeLabel = project.labels[0]?.id ?? 0;

  const [image] = await Promise.all([loadImage(asset.image), store.load()]);
  const bitmap = await createImageBitmap(image);
  renderer.setImage(bitmap, asset.width, asset.height);
  message.hidden = true;
  if (isVideo) {
    let told = 0; // a drag on the timeline asks many times: say it once
    const refuse = (why: string): false => {
      if (performance.now() - told > 2000) toast(why, "warn", 2500);
      told = performance.now();
      return false;
    };
    video = new VideoController(asset, ws, store, renderer, () => {
      if (!ws.draft.isEmpty) return refuse("Accept (Enter) or discard (Esc) the draft before changing frames.");
      if (ops.inFlight) return refuse("Still saving: one moment.");
      return true;
    });
  }

  // --- panel controls ------------------------------------------------------------------
  const labelSelect = $("#active-label") as HTMLSelectElement;
  project.labels.forEach((label, i) => labelSelect.append(el("option", { value: label.id }, `${i + 1}. ${label.name}`)));
  if (project.labels.length === 0) labelSelect.append(el("option", { value: 0 }, "no labels: add one on the project page"));
  const engineSelect = $("#engine") as HTMLSelectElement;
  const opacity = $("#opacity") as HTMLInputElement;
  const brush = $("#brush-size") as HTMLInputElement;
  const showMasks = $("#show-masks") as HTMLInputElement;
  opacity.value = String(renderer.opacity);
  brush.value = String(ws.brushRadius);

  const persist = (): void => {
    prefs.tool = ws.tool;
    prefs.engine = ws.engine;
    prefs.opacity = renderer.opacity;
    prefs.brush = ws.brushRadius;
    prefs.labels[String(projectId)] = ws.activeLabel;
    savePrefs(prefs);
  };
  const syncControls = (): void => {
    labelSelect.value = String(ws.activeLabel);
    engineSelect.value = ws.engine;
    opacity.value = String(renderer.opacity);
    brush.value = String(ws.brushRadius);
    showMasks.checked = renderer.masksVisible;
    for (const button of document.querySelectorAll<HTMLElement>("[data-tool]")) {
      button.classList.toggle("active", button.dataset.tool === ws.tool);
      button.setAttribute("aria-pressed", String(button.dataset.tool === ws.tool));
    }
    renderer.canvas.dataset.tool = ws.tool;
  };
  const instancesRoot = $("#instances");
  const renderList = (): void => {
    renderInstances(instancesRoot, store.list(), store.labelList, ws.selected, ws.draft.target?.id ?? null, {
      select: (id) => ws.select(ws.selected === id ? null : id),
      toggle: (id) => toggleVisible(id),
      relabel: (id, label) => void ops.relabel(id, label),
      remove: (id) => void ops.remove(id),
      refine: (id) => {
        ws.select(id);
        setTool("click");
      },
    }, isVideo ? { colorOf: (a) => store.colorFor(a) } : null);
    $("#instance-count").textContent = `(${store.size})`;
    instancesRoot.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
  };
  const toggleVisible = (id: number): void => {
    const instance = store.get(id);
    if (instance === undefined) return;
    store.setVisible(id, !instance.visible);
    ws.refreshLayers();
    renderList();
  };
  const setTool = (tool: ToolName): void => {
    ws.tool = tool;
    syncControls();
    persist();
    ws.invalidate();
  };

  ws.on((what) => {
    if (what === "view") return renderView(ws);
    if (what === "instances") renderList();
    if (what === "draft" || what === "instances") renderDraft(ws);
    renderStatus(ws, asset);
    syncControls();
  });

  // Panel selects hand the keyboard back to the shortcuts once a choice is made.
  for (const select of [labelSelect, engineSelect]) select.addEventListener("change", () => select.blur());
  labelSelect.addEventListener("change", () => chooseLabel(Number(labelSelect.value)));
  engineSelect.addEventListener("change", () => {
    ws.engine = engineSelect.value as Engine;
    persist();
    renderStatus(ws, asset);
  });
  opacity.addEventListener("input", () => {
    renderer.opacity = Number(opacity.value);
    ws.refreshLayers();
    persist();
  });
  brush.addEventListener("input", () => {
    ws.brushRadius = Number(brush.value);
    persist();
    ws.invalidate();
  });
  showMasks.addEventListener("change", () => {
    renderer.masksVisible = showMasks.checked;
    ws.invalidate();
  });
  for (const button of document.querySelectorAll<HTMLElement>("[data-tool]")) {
    button.addEventListener("click", () => setTool(button.dataset.tool as ToolName));
  }
  $("#btn-accept").addEventListener("click", () => void ops.accept());
  $("#btn-discard").addEventListener("click", () => ws.discardDraft());
  $("#btn-undo").addEventListener("click", () => void ops.undo());
  $("#btn-redo").addEventListener("click", () => void ops.redo());
  $("#btn-fit").addEventListener("click", () => ws.fit());
  $("#btn-help").addEventListener("click", () => toggleHelp());

  const chooseLabel = (label: number): void => {
    if (store.label(label) === undefined) return;
    ws.activeLabel = label;
    if (ws.selected !== null && ws.draft.isEmpty) void ops.relabel(ws.selected, label);
    else if (ws.draft.target === null) ws.refreshLayers(); // the draft takes the new color
    persist();
    syncControls();
  };

  // --- navigation between assets ---------------------------------------------------------
  const neighbors = await api
    .get<Neighbors>(`/api/assets/${asset.id}/neighbors/`, { retries: 2 })
    .catch((): Neighbors => ({ previous: null, next: null, index: 0, count: 1 }));
  $("#asset-position").textContent = `${neighbors.index + 1} / ${neighbors.count}`;
  const go = (delta: number): void => {
    const next = delta > 0 ? neighbors.next : neighbors.previous;
    if (next === null) {
      toast(delta > 0 ? "This is the last asset." : "This is the first asset.");
      return;
    }
    location.assign(`/projects/${projectId}/assets/${next}/`);
  };
  $("#prev-asset").addEventListener("click", () => go(-1));
  $("#next-asset").addEventListener("click", () => go(1));

  // --- queue and review modes (learning loop) -------------------------------------------------
  const modeHost = { project, asset, ws, ops, store, video };
  const modeParams = parseMode(location.search);
  const queue = new QueueMode(modeHost, modeParams.mode === "queue" ? modeParams.strategy : prefs.strategy, ["owner", "annotator"].includes(project.role ?? ""), (strategy) => {
    prefs.strategy = strategy;
    persist();
  });
  const review = new ReviewMode(
    modeHost,
    ["owner", "reviewer"].includes(project.role ?? ""),
    modeParams.mode === "review" ? { status: modeParams.status, source: modeParams.source } : undefined,
  );
  $("#queue-box").hidden = !queue.allowed && !review.allowed;

  // --- help overlay -------------------------------------------------------------------------
  const help = $("#help");
  help.append(buildHelp(isVideo));
  help.addEventListener("click", (event) => {
    if (event.target === help) toggleHelp(false);
  });
  const toggleHelp = (show = help.hidden): void => {
    help.hidden = !show;
  };

  // --- keyboard ------------------------------------------------------------------------------
  const selectStep = (delta: number): void => {
    const list = store.list();
    if (list.length === 0) return;
    const at = list.findIndex((i) => i.annotation.id === ws.selected);
    const next = list[(at + delta + list.length) % list.length] ?? list[0]!;
    ws.select(at < 0 && delta < 0 ? list[list.length - 1]!.annotation.id : next.annotation.id);
  };
  const zoom = (factor: number): void => ws.setView(zoomAt(ws.view, ws.viewCenter, factor));
  const run = (action: Action): void => {
    if (action.startsWith("tool:")) return setTool(action.slice(5) as ToolName);
    if (action.startsWith("label:")) {
      const label = project.labels[Number(action.slice(6)) - 1];
      if (label !== undefined) chooseLabel(label.id);
      return;
    }
    switch (action) {
      case "accept": return void ops.accept();
      case "cancel":
        if (!help.hidden) return toggleHelp(false);
        if (!ws.draft.isEmpty) return ws.discardDraft();
        return ws.select(null);
      case "undo": return void ops.undo();
      case "redo": return void ops.redo();
      case "delete":
        if (ws.selected !== null) return void ops.remove(ws.selected);
        return ws.discardDraft();
      case "new":
        if (!ws.draft.isEmpty) ws.discardDraft();
        return ws.select(null);
      case "retry": return ws.requestPrediction();
      case "next-instance": return selectStep(1);
      case "prev-instance": return selectStep(-1);
      case "toggle-selected": if (ws.selected !== null) toggleVisible(ws.selected); return;
      case "toggle-masks":
        renderer.masksVisible = !renderer.masksVisible;
        syncControls();
        return ws.invalidate();
      case "opacity-down":
      case "opacity-up":
        renderer.opacity = Math.round(Math.min(1, Math.max(0, renderer.opacity + (action === "opacity-up" ? 0.1 : -0.1))) * 100) / 100;
        ws.refreshLayers();
        syncControls();
        return persist();
      case "brush-smaller":
      case "brush-bigger":
        ws.brushRadius = Math.min(200, Math.max(1, Math.round(ws.brushRadius * (action === "brush-bigger" ? 1.25 : 0.8))));
        syncControls();
        persist();
        return ws.invalidate();
      case "fit": return ws.fit();
      case "actual-size": return ws.setView(actualSize(ws.view, renderer.width, renderer.height));
      case "zoom-in": return zoom(1.25);
      case "zoom-out": return zoom(0.8);
      case "next-asset": return go(1);
      case "prev-asset": return go(-1);
      case "cycle-engine":
        ws.engine = ENGINES[(ENGINES.indexOf(ws.engine) + 1) % ENGINES.length]!;
        syncControls();
        persist();
        toast(`Engine: ${ws.engine}`, "info", 1200);
        return renderStatus(ws, asset);
      case "help": return toggleHelp();
    }
    if (video === null) return;
    switch (action) {
      case "frame-prev": return video.step(-1);
      case "frame-next": return video.step(1);
      case "frame-back-10": return video.step(-10);
      case "frame-ahead-10": return video.step(10);
      case "frame-first": return video.step(-video.count);
      case "frame-last": return video.step(video.count);
      case "play": return video.togglePlay();
      case "next-flagged": return video.jumpToFlagged(1);
      case "prev-flagged": return video.jumpToFlagged(-1);
      case "propagate": return void video.propagate();
    }
  };
  window.addEventListener("keydown", (event) => {
    if (($("#conflict") as HTMLDialogElement).open) return;
    // The modes' keys first: in review mode A and R decide instead of their usual meaning.
    if (review.handleKey(event) || queue.handleKey(event)) {
      event.preventDefault();
      return;
    }
    const action = actionFor(event);
    if (action === null) return;
    event.preventDefault();
    run(action);
  });

  // --- lifecycle -------------------------------------------------------------------------------
  new ResizeObserver(() => renderer.resize()).observe($("#stage"));
  renderer.resize();
  ws.fit();
  const backup = loadBackup(asset.id);
  if (video !== null) await video.start(bitmap, store.list().map((i) => i.annotation), backup?.frame ?? frameFromHash());
  if (backup !== null && backup.frame === ws.frame) {
    ws.draft.restore(backup.snapshot);
    if (ws.draft.stale && ws.draft.hasPrompts) ws.requestPrediction();
    toast("Restored your unsaved draft from last time (Esc discards it).", "warn", 6000);
  }
  ws.refreshLayers();
  ws.emit("instances");
  window.addEventListener("beforeunload", (event) => {
    if (!ws.draft.isEmpty || ops.inFlight) event.preventDefault();
  });
  if (modeParams.mode === "queue") await queue.next();
  else if (modeParams.mode === "review") await review.start(modeParams.annotation);
  const pollEmbedding = async (): Promise<void> => {
    while (asset.embedding_status !== "ready" && asset.embedding_status !== "failed") {
      await new Promise((r) => setTimeout(r, 2000));
      try {
        Object.assign(asset, await api.get<Asset>(`/api/assets/${asset.id}/`));
        renderStatus(ws, asset);
      } catch {
        /* try again on the next tick */
      }
    }
  };
  // A video's engine state is made per frame on demand (prefetch), not for the asset.
  if (!isVideo) void pollEmbedding();

  (window as unknown as { __app: unknown }).__app = {
    ws,
    ops,
    store,
    renderer,
    video,
    queue,
    review,
    state: () => ({
      tool: ws.tool,
      engine: ws.engine,
      selected: ws.selected,
      draft: {
        clicks: ws.draft.clicks.length,
        area: ws.draft.area,
        target: ws.draft.target?.id ?? null,
        engine: ws.draft.meta?.engine ?? null,
        stale: ws.draft.stale,
      },
      predict: ws.predictor.state.kind,
      save: ops.state.kind,
      annotations: store.list().map((i) => ({
        id: i.annotation.id,
        label: i.annotation.label,
        version: i.annotation.version,
        area: i.bitmap.area,
        visible: i.visible,
        track: i.annotation.track,
        source: i.annotation.source,
        review_status: i.annotation.review_status,
      })),
      undo: ws.history.size,
      scale: ws.view.scale,
      frame: ws.frame,
      video: video?.state() ?? null,
      queue: queue.snapshot(),
      review: review.snapshot(),
    }),
  };
  document.body.dataset.ready = "true";
}

main().catch((error: unknown) => {
  const message = $("#stage-message");
  message.hidden = false;
  message.textContent = `Could not open the asset: ${describeError(error)}`;
  message.classList.add("error");
});
