/** Small DOM helpers shared by the pages. */
/** Creates an element: el("button", {class: "x", onclick: f}, "text"). */
export function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
        if (value === undefined || value === false)
            continue;
        if (typeof value === "function")
            node.addEventListener(key.replace(/^on/, ""), value);
        else if (value === true)
            node.setAttribute(key, "");
        else
            node.setAttribute(key, String(value));
    }
    for (const child of children) {
        if (child === null || child === undefined || child === false)
            continue;
        node.append(child);
    }
    return node;
}
export function $(selector, root = document) {
    const node = root.querySelector(selector);
    if (node === null)
        throw new Error(`missing element ${selector}`);
    return node;
}
/** A transient message in the corner; errors stay until clicked. */
export function toast(message, kind = "info", ms = 4000) {
    const box = document.getElementById("toasts") ?? document.body;
    const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
    node.addEventListener("click", () => node.remove());
    box.append(node);
    if (kind !== "error")
        setTimeout(() => node.remove(), ms);
    return node;
}
export function formatBytes(bytes) {
    if (bytes < 1024)
        return `${bytes} B`;
    if (bytes < 1024 * 1024)
        return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
/** Parses "#rrggbb" into [r, g, b]; grey for anything else. */
export function parseColor(color) {
    const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
    if (!match)
        return [128, 128, 128];
    return [parseInt(match[1], 16), parseInt(match[2], 16), parseInt(match[3], 16)];
}
/** The element should not steal single-key shortcuts (text fields, selects...). */
export function isTyping(target) {
    if (!(target instanceof HTMLElement))
        return false;
    if (target.isContentEditable)
        return true;
    if (target instanceof HTMLInputElement) {
        return !["checkbox", "radio", "range", "button", "color"].includes(target.type);
    }
    return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}
//# sourceMappingURL=ui.js.map