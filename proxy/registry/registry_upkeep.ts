/**
 * The registry's periodic store work that needs no decision of its own: the batched flush of
 * last-seen/last-media times and media states, and the retention prune of ended dataflows.
 * Both run on timers, so they never throw: a failed batch stays pending, a failed prune waits
 * for its next period.
 */
import type { Logger } from "../log.ts";
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
