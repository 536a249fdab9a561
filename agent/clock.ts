/** Time for the agent's state machines, injectable so tests run on a fake clock. */

/** Opaque timer handle. */
export type TimerHandle = unknown;

/** Wall time and timers. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * `base` with `offsetMs` added to `now()`, timers unchanged: the wall clock that stamps capture
 * times under `--clock-offset-ms` (a test and operations aid: it shifts what the agent claims,
 * it does not set the system clock; NTP or GPS keeps that right).
 */
export function offsetClock(base: Clock, offsetMs: number): Clock {
  if (offsetMs === 0) return base;
  return { now: () => base.now() + offsetMs, setTimeout: base.setTimeout, clearTimeout: base.clearTimeout };
}
