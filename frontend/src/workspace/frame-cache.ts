/**
 * A least-recently-used cache of per-frame things (decoded frame images, a frame's
 * annotations) with de-duplicated loads and a bounded read-ahead queue: `preload()`
 * replaces what is still waiting (the user has moved on), loads run a few at a time.
 * Pure logic around an injected loader, so it is unit tested without a browser.
 */

export type FrameLoader<T> = (frame: number) => Promise<T>;

export class FrameCache<T> {
  private readonly items = new Map<number, T>();
  private readonly inFlight = new Map<number, Promise<T>>();
  private queue: number[] = [];
  private running = 0;
  /** Bumped by clear(): loads started before it do not store their result. */
  private generation = 0;
  /** Never evicted (the frame on screen: its image may still be drawn). */
  pinned: number | null = null;

  constructor(
    private readonly loader: FrameLoader<T>,
    readonly capacity: number,
    private readonly dispose: (value: T) => void = () => {},
    private readonly parallel = 3,
  ) {}

  get size(): number {
    return this.items.size;
  }

  has(frame: number): boolean {
    return this.items.has(frame);
  }

  /** The cached value (and marks it recently used), or undefined. */
  get(frame: number): T | undefined {
    const value = this.items.get(frame);
    if (value !== undefined) {
      this.items.delete(frame);
      this.items.set(frame, value);
    }
    return value;
  }

  set(frame: number, value: T): void {
    const old = this.items.get(frame);
    this.items.delete(frame);
    this.items.set(frame, value);
    if (old !== undefined && old !== value && frame !== this.pinned) this.dispose(old);
    this.evict();
  }

  /** The value, from the cache or loaded once however many callers ask at a time. */
  load(frame: number): Promise<T> {
    const cached = this.get(frame);
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.inFlight.get(frame);
    if (pending !== undefined) return pending;
    const generation = this.generation;
    const promise = this.loader(frame).then(
      (value) => {
        if (this.inFlight.get(frame) === promise) this.inFlight.delete(frame);
        if (generation === this.generation) this.set(frame, value);
        return value;
      },
      (error: unknown) => {
        if (this.inFlight.get(frame) === promise) this.inFlight.delete(frame);
        throw error;
      },
    );
    this.inFlight.set(frame, promise);
    return promise;
  }

  /** Loads these frames in the background, in order; replaces the previous wish list. */
  preload(frames: number[]): void {
    this.queue = frames.filter((f) => !this.items.has(f) && !this.inFlight.has(f));
    this.pump();
  }

  get pending(): number {
    return this.queue.length + this.running;
  }

  forget(frame: number): void {
    const value = this.items.get(frame);
    this.items.delete(frame);
    if (value !== undefined && frame !== this.pinned) this.dispose(value);
  }

  /** Drops everything (e.g. after a propagation rewrote many frames). */
  clear(): void {
    this.generation += 1;
    this.queue = [];
    this.inFlight.clear();
    for (const [frame, value] of this.items) if (frame !== this.pinned) this.dispose(value);
    this.items.clear();
  }

  private pump(): void {
    while (this.running < this.parallel && this.queue.length > 0) {
      const frame = this.queue.shift()!;
      if (this.items.has(frame) || this.inFlight.has(frame)) continue;
      this.running += 1;
      this.load(frame)
        .catch(() => undefined) // a read-ahead failure is retried when the frame is shown
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }

  private evict(): void {
    for (const frame of this.items.keys()) {
      if (this.items.size <= this.capacity) break;
      if (frame === this.pinned) continue;
      const value = this.items.get(frame)!;
      this.items.delete(frame);
      this.dispose(value);
    }
  }
}
