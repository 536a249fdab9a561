/**
 * The registry's timers and the periodic store work that needs no decision of its own: the
 * batched flush of last-seen/last-media times and media states, the retention prune of ended
 * dataflows, the probe of a store that failed and the ping that tells whether it answers. They
 * never throw: a failed batch stays pending, a failed prune waits for its next period.
 */
import type { Logger } from "../log.ts";
import type { Cancel, Clock } from "./clock.ts";
import type { DataflowStore } from "../store/store_api.ts";
import type { Touch } from "../store/store.ts";
import type { Flow } from "./flow.ts";
import type { StoreWrites } from "./store_writes.ts";

/** Ended rows deleted per prune statement, and at most per tick (the rest waits for the next). */
const PRUNE_BATCH = 1000;
const PRUNE_MAX_PER_TICK = 20_000;

/**
 * Writes the touches of `dirty` flows in one batch. The set is emptied before the write, so
 * keep-alives that arrive while it is in flight are kept for the next batch; a failed batch puts
 * its ids back.
 */
export async function flushTouches(flows: ReadonlyMap<number, Flow>, dirty: Set<number>, store: DataflowStore, writes: StoreWrites): Promise<void> {
  if (dirty.size === 0) return;
  const ids = [...dirty];
  dirty.clear();
  const batch: Touch[] = [];
  for (const id of ids) {
    const flow = flows.get(id);
    if (flow) batch.push([id, flow.lastSeen, flow.lastMediaAt ?? null, flow.state]);
  }
  if (batch.length === 0 || await writes.attempt("flush", () => store.touchMany(batch))) return;
  for (const id of ids) if (flows.has(id)) dirty.add(id);
}

/** Deletes ended dataflows that ended before `before`, a bounded number per call; returns how many. */
export async function pruneEnded(store: DataflowStore, writes: StoreWrites, before: number, log: Logger, retentionMs: number): Promise<number> {
  let deleted = 0;
  await writes.attempt("prune", async () => {
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH && deleted < PRUNE_MAX_PER_TICK;) {
      n = await store.pruneEnded(before, PRUNE_BATCH);
      deleted += n;
    }
  });
  if (deleted > 0) log.info("ended dataflows pruned", { count: deleted, retentionMs });
  return deleted;
}

/** Runs `work` unless its previous run is still going (a slow store must not pile up timer ticks). */
export function exclusive(work: () => Promise<void>, log: Logger, what: string): () => void {
  let running = false;
  return () => {
    if (running) return;
    running = true;
    work().catch((error) => log.error("registry timer failed", { timer: what, error })).finally(() => {
      running = false;
    });
  };
}

/** Options of {@link Upkeep}. */
export interface UpkeepOptions {
  store: DataflowStore;
  writes: StoreWrites;
  clock: Clock;
  log: Logger;
  sweepMs: number;
  flushMs: number;
  pruneMs: number;
  endedRetentionMs: number;
  /** The registry's expiry sweep, run first on each sweep tick. */
  sweep(): Promise<void>;
  /** The registry's flush of touches. */
  flush(): Promise<void>;
}

/** The sweep and flush timers of one registry. */
export class Upkeep {
  #timers: Cancel[] = [];
  #lastPrune = -Infinity;
  #reachable = true;
  /** Ended dataflows deleted by retention since start. */
  pruned = 0;

  constructor(private readonly o: UpkeepOptions) {}

  /** (Re)starts the timers; a tick still running when the next falls due is skipped. */
  start(): void {
    this.stop();
    this.#timers = [
      this.o.clock.every(this.o.sweepMs, exclusive(() => this.#tick(), this.o.log, "sweep")),
      this.o.clock.every(this.o.flushMs, exclusive(() => this.o.flush(), this.o.log, "flush")),
    ];
  }

  /** Stops the timers. */
  stop(): void {
    for (const cancel of this.#timers) cancel();
    this.#timers = [];
  }

  /** False while the store's last ping did not answer. */
  get reachable(): boolean {
    return this.#reachable;
  }

  async #tick(): Promise<void> {
    await this.o.sweep();
    const now = this.o.clock.now();
    if (now - this.#lastPrune >= this.o.pruneMs) await this.prune();
    if (!this.o.writes.healthy) await this.o.writes.attempt("probe", () => this.o.store.probe(now));
    this.#reachable = await this.o.store.ping();
  }

  /** Deletes ended dataflows older than the retention (a bounded number per call); returns how many. */
  async prune(): Promise<number> {
    const now = this.o.clock.now();
    this.#lastPrune = now;
    const deleted = await pruneEnded(this.o.store, this.o.writes, now - this.o.endedRetentionMs, this.o.log, this.o.endedRetentionMs);
    this.pruned += deleted;
    return deleted;
  }
}
