/** Small DOM helpers shared by the pages. */

type Attrs = Record<string, string | number | boolean | ((event: Event) => void) | undefined>;
type Child = Node | string | null | undefined | false;

/** Creates an element: el("button", {class: "x", onclick: f}, "text"). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") node.addEventListener(key.replace(/^on/, ""), value);
    else if (value === true) node.setAttribute(key, "");
    // Through the CSSOM, not the attribute: the CSP allows no inline style attributes.
    else if (key === "style") node.style.cssText = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function $(selector: string, root: ParentNode = document): HTMLElement {
  const node = root.querySelector<HTMLElement>(selector);
  if (node === null) throw new Error(`missing element ${selector}`);
  return node;
}

/** Attaches a form's JS submit handler and only then enables its submit buttons: the
 * templates render them disabled, so a click before the page's script has wired the form
 * cannot fall through to a native submit (a page reload that silently drops the action). */
export function onSubmit(form: HTMLFormElement, handler: (data: FormData) => Promise<void>): void {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void handler(new FormData(form));
  });
  for (const button of form.querySelectorAll<HTMLButtonElement>("button[type=submit]")) button.disabled = false;
}

export type ToastKind = "info" | "ok" | "warn" | "error";

/** A transient message in the corner; errors stay until clicked. */
export function toast(message: string, kind: ToastKind = "info", ms = 4000): HTMLElement {
  const box = document.getElementById("toasts") ?? document.body;
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  node.addEventListener("click", () => node.remove());
  box.append(node);
  if (kind !== "error") setTimeout(() => node.remove(), ms);
  return node;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Parses "#rrggbb" into [r, g, b]; grey for anything else. */
export function parseColor(color: string): [number, number, number] {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!match) return [128, 128, 128];
  return [parseInt(match[1]!, 16), parseInt(match[2]!, 16), parseInt(match[3]!, 16)];
}

/** The element should not steal single-key shortcuts (text fields, selects...). */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLInputElement) {
    return !["checkbox", "radio", "range", "button", "color"].includes(target.type);
  }
  return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}
