/**
 * The REST client: JSON over fetch with the session cookie and CSRF header, typed
 * errors, retries on 503 + Retry-After, and uploads with progress (XMLHttpRequest).
 */
export class ApiError extends Error {
    status;
    code;
    body;
    retryAfter;
    constructor(status, // 0: network failure
    code, detail, body = {}, retryAfter = null) {
        super(detail);
        this.status = status;
        this.code = code;
        this.body = body;
        this.retryAfter = retryAfter;
        this.name = "ApiError";
    }
    get isConflict() {
        return this.status === 409;
    }
}
export function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
}
function isAbort(error) {
    return error instanceof DOMException && error.name === "AbortError";
}
/** Resolves after `ms`, or rejects with an AbortError when `signal` aborts first. */
export function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted)
            return reject(new DOMException("aborted", "AbortError"));
        const timer = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(timer);
            reject(new DOMException("aborted", "AbortError"));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}
async function errorFrom(response) {
    let body = {};
    try {
        body = (await response.json());
    }
    catch {
        /* not JSON: keep the status text */
    }
    const retryAfter = Number(response.headers.get("Retry-After"));
    const detail = typeof body.detail === "string" ? body.detail : response.statusText || "request failed";
    const code = typeof body.code === "string" ? body.code : `http_${response.status}`;
    return new ApiError(response.status, code, detail, body, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}
export async function request(method, path, body, options = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined)
        headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD")
        headers["X-CSRFToken"] = csrfToken();
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined)
        init.body = JSON.stringify(body);
    if (options.signal)
        init.signal = options.signal;
    for (let attempt = 0;; attempt++) {
        let response;
        try {
            response = await fetch(path, init);
        }
        catch (error) {
            if (isAbort(error))
                throw error;
            throw new ApiError(0, "network", "the server cannot be reached");
        }
        if (response.ok) {
            if (response.status === 204)
                return undefined;
            return (await response.json());
        }
        const error = await errorFrom(response);
        const retries = options.retries ?? 0;
        if (response.status === 503 && attempt < retries) {
            const wait = Math.min(30, error.retryAfter ?? 2);
            options.onRetry?.(error, attempt + 1, wait);
            await sleep(wait * 1000, options.signal);
            continue;
        }
        if (response.status === 401 || error.code === "not_authenticated") {
            window.location.assign(`/login/?next=${encodeURIComponent(location.pathname)}`);
        }
        throw error;
    }
}
export const api = {
    get: (path, options) => request("GET", path, undefined, options),
    post: (path, body, options) => request("POST", path, body, options),
    put: (path, body, options) => request("PUT", path, body, options),
    patch: (path, body, options) => request("PATCH", path, body, options),
    delete: (path, options) => request("DELETE", path, undefined, options),
};
/** Every item of a paginated list, following `next` links. */
export async function listAll(path, options) {
    const items = [];
    let next = path;
    while (next !== null) {
        const page = await api.get(next, options);
        items.push(...page.results);
        if (page.next === null)
            break;
        // Same origin, relative: the server may sit behind a proxy that rewrites the host.
        const url = new URL(page.next, location.origin);
        next = url.pathname + url.search;
    }
    return items;
}
/** Multipart upload of one file with progress reports (0..1). */
export function upload(path, file, onProgress, signal) {
    return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", path);
        xhr.setRequestHeader("X-CSRFToken", csrfToken());
        xhr.setRequestHeader("Accept", "application/json");
        xhr.responseType = "json";
        xhr.upload.addEventListener("progress", (event) => {
            if (event.lengthComputable)
                onProgress(event.loaded / event.total);
        });
        xhr.addEventListener("load", () => {
            const body = (xhr.response ?? {});
            if (xhr.status >= 200 && xhr.status < 300) {
                onProgress(1);
                resolve(body);
                return;
            }
            const detail = typeof body.detail === "string" ? body.detail : xhr.statusText;
            const code = typeof body.code === "string" ? body.code : `http_${xhr.status}`;
            reject(new ApiError(xhr.status, code, detail || "upload failed", body));
        });
        xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the server cannot be reached")));
        xhr.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        signal?.addEventListener("abort", () => xhr.abort(), { once: true });
        const form = new FormData();
        form.append("file", file);
        xhr.send(form);
    });
}
export function describeError(error) {
    if (error instanceof ApiError) {
        const fields = error.body.errors;
        const extra = fields && typeof fields === "object" ? ` (${JSON.stringify(fields)})` : "";
        return `${error.message}${extra}`;
    }
    return error instanceof Error ? error.message : String(error);
}
//# sourceMappingURL=api.js.map