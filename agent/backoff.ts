/** Exponential backoff with jitter, for every retry loop of the agent. */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay; default 500 ms. */
  initialMs?: number;
  /** Largest delay; default 30000 ms. */
  maxMs?: number;
  /** Growth per attempt; default 2. */
  factor?: number;
  /** Random share added or removed, 0..1; default 0.2. */
  jitter?: number;
  random?: () => number;
}

/** Delays that grow from `initialMs` to `maxMs`; `reset()` after a success. */
export class Backoff {
  #attempt = 0;
  #o: Required<BackoffOptions>;

  constructor(options: BackoffOptions = {}) {
    this.#o = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.2, random: Math.random, ...options };
  }

  /** The next delay in ms. */
  next(): number {
    const { initialMs, maxMs, factor, jitter, random } = this.#o;
    const base = Math.min(maxMs, initialMs * factor ** this.#attempt++);
    const spread = base * jitter * (random() * 2 - 1);
    return Math.max(0, Math.round(Math.min(maxMs, base + spread)));
  }

  /** Starts again from `initialMs`. */
  reset(): void {
    this.#attempt = 0;
  }
}
