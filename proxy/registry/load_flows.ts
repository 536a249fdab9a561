/**
 * The registry's start-up read: the active dataflows of the store as in-memory flows, and the
 * position keys of rows written before schema 5. A row whose metadata no longer parses is ended
 * (and logged) instead of failing the start: one bad row must not become a restart loop.
 * Store errors here propagate; the proxy then exits 2 naming `--db`.
 */
import type { Logger } from "../log.ts";
import type { DataflowStore } from "../store/store_api.ts";
import { type Flow, flowFromRow, positionQuadkey } from "./flow.ts";

const BATCH = 1000;

/** The position key of a stored metadata JSON; '' when it has none or does not parse. */
export function positionOfJson(json: string): string {
  try {
    return positionQuadkey(JSON.parse(json)) ?? "";
  } catch {
    return ""; // unreadable metadata: matched by its sent key alone
  }
}

/** Fills `position_quadkey` of the rows that lack it, a batch per transaction. */
export async function backfillPositions(store: DataflowStore): Promise<number> {
  let done = 0;
  for (;;) {
    const rows = await store.rowsWithoutPosition(BATCH);
    if (rows.length === 0) return done;
    await store.setPositions(rows.map((r) => [r.id, positionOfJson(r.metadata)] as [number, string]));
    done += rows.length;
  }
}

/**
 * The active flows of `store`, each with a fresh keep-alive window from `now` (a proxy that was
 * down is not the sensor's fault). A `live` flow comes back `idle`: no media session survives a
 * restart; those ids are returned in `restated` for the registry to flush.
 */
export async function loadFlows(store: DataflowStore, now: number, log: Logger): Promise<{ flows: Map<number, Flow>; restated: number[] }> {
  const flows = new Map<number, Flow>();
  const restated: number[] = [];
  for (const row of await store.activeDataflows()) {
    let flow: Flow;
    try {
      flow = flowFromRow(row);
    } catch (error) {
      log.error("unreadable dataflow row ended", { id: row.id, error });
      await store.endDataflow(row.id, "expired", now, row.last_seen_at, row.last_media_at);
      continue;
    }
    flow.lastSeen = Math.max(flow.lastSeen, now);
    if (flow.state === "live") {
      flow.state = "idle";
      restated.push(flow.id);
    }
    flows.set(flow.id, flow);
  }
  return { flows, restated };
}
