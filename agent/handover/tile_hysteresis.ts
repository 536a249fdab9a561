/**
 * Hysteresis at tile borders: a vehicle on the line between two zoom-18 tiles reports fixes in
 * one and then the other, and a handover on every change would flap between MECs. A new tile
 * counts (is "settled") only once every fix for `holdMs` has been in it; one fix back in the
 * settled tile, or in a third tile, starts the wait again.
 *
 *   fixes:   A A B A B B B B B B …          (holdMs = 3 fixes' time)
 *   settled: A A A A A A A B B B …
 *                      ╰hold╯
 */
import type { LocationFix } from "../location/location_fix.ts";

/** Options of {@link TileHysteresis}. */
export interface TileHysteresisOptions {
  /** How long a new tile must hold before it counts; 0 = at once. */
  holdMs: number;
}

/** Counters (cumulative). */
export interface TileHysteresisCounters {
  /** Tiles that became the settled one. */
  settled: number;
  /** New tiles left before their hold elapsed (a border wobble that did not flap). */
  suppressed: number;
}

/** The settled tile from a stream of fixes; pure (times are passed in). */
export class TileHysteresis {
  readonly counters: TileHysteresisCounters = { settled: 0, suppressed: 0 };
  #settled: LocationFix | undefined;
  #candidate: LocationFix | undefined;
  #since = 0;
  readonly #holdMs: number;

  constructor(options: TileHysteresisOptions) {
    if (!(options.holdMs >= 0)) throw new RangeError(`TileHysteresis holdMs "${options.holdMs}" must be 0 or more`);
    this.#holdMs = options.holdMs;
  }

  /** Records a fix taken at `nowMs`. The first fix settles at once. */
  observe(fix: LocationFix, nowMs: number): void {
    if (!this.#settled || fix.tile === this.#settled.tile) {
      if (this.#candidate) this.counters.suppressed++;
      this.#settled = fix;
      this.#candidate = undefined;
      return;
    }
    if (this.#candidate?.tile !== fix.tile) {
      if (this.#candidate) this.counters.suppressed++;
      this.#since = nowMs;
    }
    this.#candidate = fix;
    this.#settle(nowMs);
  }

  /** The latest fix in the settled tile at `nowMs` (undefined before the first fix). */
  settledFix(nowMs: number): LocationFix | undefined {
    this.#settle(nowMs);
    return this.#settled;
  }

  /** The tile waiting for its hold to elapse, if any. */
  get pendingTile(): string | undefined {
    return this.#candidate?.tile;
  }

  #settle(nowMs: number): void {
    if (!this.#candidate || nowMs - this.#since < this.#holdMs) return;
    this.#settled = this.#candidate;
    this.#candidate = undefined;
    this.counters.settled++;
  }
}
