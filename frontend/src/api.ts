/**
 * The REST client: JSON over fetch with the session cookie and CSRF header, typed
 * errors, retries on 503 + Retry-After, and uploads with progress (XMLHttpRequest).
 */

import type { Page } from "./types.js";

export class ApiError extends Error {
  constructor(
    readonly status: number, // 0: network failure
    readonly code: string,
    detail: string,
    readonly body: Record<string, unknown> = {},
    readonly retryAfter: number | null = null,
  ) {
    super(detail);
    this.name = "ApiError";
  }

  get isConflict(): boolean {
    return this.status === 409;
  }
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** How many times a 503 with Retry-After is retried (waiting as told). Default 0. */
  retries?: number;
  /** Told before each wait, e.g. to show "worker busy, retrying in 2 s". */
  onRetry?: (error: ApiError, attempt: number, waitSeconds: number) => void;
}

export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]!) : "";
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** Resolves after `ms`, or rejects with an AbortError when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException("aborted", "AbortError"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

async function errorFrom(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    /* not JSON: keep the status text */
  }
  const retryAfter = Number(response.headers.get("Retry-After"));
  const detail = typeof body.detail === "string" ? body.detail : response.statusText || "request failed";
  const code = typeof body.code === "string" ? body.code : `http_${response.status}`;
  return new ApiError(response.status, code, detail, body, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (options.signal) init.signal = options.signal;
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, "network", "the server cannot be reached");
    }
    if (response.ok) {
      if (response.status === 204) return undefined as T;
      return (await response.json()) as T;
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
  get: <T>(path: string, options?: RequestOptions) => request<T>("GET", path, undefined, options),
  post: <T>(path: string, body: unknown, options?: RequestOptions) => request<T>("POST", path, body, options),
  put: <T>(path: string, body: unknown, options?: RequestOptions) => request<T>("PUT", path, body, options),
  patch: <T>(path: string, body: unknown, options?: RequestOptions) => request<T>("PATCH", path, body, options),
  delete: (path: string, options?: RequestOptions) => request<void>("DELETE", path, undefined, options),
};

/** Every item of a paginated list, following `next` links. */
export async function listAll<T>(path: string, options?: RequestOptions): Promise<T[]> {
  const items: T[] = [];
  let next: string | null = path;
  while (next !== null) {
    const page: Page<T> = await api.get<Page<T>>(next, options);
    items.push(...page.results);
    if (page.next === null) break;
    // Same origin, relative: the server may sit behind a proxy that rewrites the host.
    const url = new URL(page.next, location.origin);
    next = url.pathname + url.search;
  }
  return items;
}

/** Multipart upload of one file with progress reports (0..1). */
export function upload<T>(
  path: string,
  file: File,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const body = (xhr.response ?? {}) as Record<string, unknown>;
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(body as T);
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

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.body.errors;
    const extra = fields && typeof fields === "object" ? ` (${JSON.stringify(fields)})` : "";
    return `${error.message}${extra}`;
  }
  return error instanceof Error ? error.message : String(error);
}
