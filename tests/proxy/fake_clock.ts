// A fake Clock for registry tests: time moves only when a test calls advance(), which
// fires due repeating timers in order, so expiry is tested without real sleeps. The registry's
// timers do asynchronous store work: advance() lets each fired timer's work settle (one turn
// of the event loop, no wall-clock wait) before the next one falls due.
import type { Cancel, Clock } from "../../proxy/registry/clock.ts";

interface Timer {
  at: number;
  every: number;
  fn: () => void;
  live: boolean;
}

/** A manually driven clock. */
export class FakeClock implements Clock {
  #now: number;
  readonly #timers: Timer[] = [];

  constructor(start = Date.UTC(2024, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  every(ms: number, fn: () => void): Cancel {
    const timer: Timer = { at: this.#now + ms, every: ms, fn, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, each settled before the next. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      due.at += due.every;
      due.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets pending promise work run: one macrotask turn (an in-memory store answers within it). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
