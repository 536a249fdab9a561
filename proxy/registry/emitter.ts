/**
 * A typed, synchronous event emitter. A listener that throws is logged and does not stop
 * the others: a faulty subscriber (say a media session) must never break registration.
 */
import { logger } from "../log.ts";

const log = logger("registry");

/** Removes the listener it was returned for. */
export type Unsubscribe = () => void;

/** Emits events of the map `E` (event name → payload). */
export class Emitter<E extends object> {
  readonly #listeners = new Map<keyof E, Set<(payload: never) => void>>();

  /** Calls `fn` for every `event` until the returned function is called. */
  on<K extends keyof E>(event: K, fn: (payload: E[K]) => void): Unsubscribe {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn as (payload: never) => void);
    return () => set.delete(fn as (payload: never) => void);
  }

  /** Calls every listener of `event` with `payload`, in subscription order. */
  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const fn of set) {
      try {
        (fn as (payload: E[K]) => void)(payload);
      } catch (err) {
        log.error("event listener failed", { event: String(event), error: err });
      }
    }
  }
}
