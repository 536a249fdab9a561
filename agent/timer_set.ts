/** Timers of one owner on an injectable clock, all cancellable at once (for a clean stop). */
import type { Clock, TimerHandle } from "./clock.ts";

/** A set of pending timers. */
export class TimerSet {
  #clock: Clock;
  #timers = new Set<TimerHandle>();
  #wake: (() => void) | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Runs `fn` after `ms`. */
  after(ms: number, fn: () => void): TimerHandle {
    const handle = this.#clock.setTimeout(() => {
      this.#timers.delete(handle);
      fn();
    }, ms);
    this.#timers.add(handle);
    return handle;
  }

  /** Cancels one timer (undefined is ignored). */
  cancel(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    this.#clock.clearTimeout(handle);
    this.#timers.delete(handle);
  }

  /** Waits `ms`, or less when `wake()` is called. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.after(ms, () => resolve());
      this.#wake = () => {
        this.cancel(handle);
        resolve();
      };
    });
  }

  /** Ends the current `sleep()` at once. */
  wake(): void {
    this.#wake?.();
  }

  /** Cancels every pending timer. */
  cancelAll(): void {
    for (const handle of [...this.#timers]) this.cancel(handle);
  }
}
