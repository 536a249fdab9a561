/**
 * Time as the registry sees it: injected so that expiry and leases are tested with a
 * fake clock instead of real sleeps.
 */

/** Cancels a repeating timer. */
export type Cancel = () => void;

/** Wall-clock milliseconds and a repeating timer. */
export interface Clock {
  now(): number;
  every(ms: number, fn: () => void): Cancel;
}

/** The real clock; its timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    (timer as { unref?: () => void }).unref?.();
    return () => clearInterval(timer);
  },
};
