/**
 * Read-only views over the registry's active flows and the store's ended rows: the paged
 * `GET /dataflows` list and the counts behind the dataflow gauges.
 */
import type { DataflowRecord } from "../../shared/mod.ts";
import type { DataflowStore } from "../store/store_api.ts";
import { quadkeyMatches } from "./demand_book.ts";
import { type Flow, type RecordContext, recordOfFlow, recordOfRow } from "./flow.ts";
import { LIST_MAX, type ListFilter } from "./registry_types.ts";
import type { StoreWrites } from "./store_writes.ts";

/**
 * One page of the dataflows matching `filter`: the newest `limit` (at most {@link LIST_MAX})
 * with ids below `before`, in id order. Active ones come from memory, ended ones from one
 * indexed page of the store, so the cost follows the page size, not the number of ended rows.
 */
export async function listRecords(
  flows: Iterable<Flow>, store: DataflowStore, writes: StoreWrites, filter: ListFilter, ctx: RecordContext,
): Promise<DataflowRecord[]> {
  const limit = Math.min(filter.limit ?? LIST_MAX, LIST_MAX);
  const matches = (f: Flow) => (filter.before === undefined || f.id < filter.before) &&
    (filter.dataType === undefined || f.dataType === filter.dataType) &&
    (filter.quadkey === undefined || quadkeyMatches(filter.quadkey, f));
  const active = filter.active === false ? [] : [...flows].filter(matches).sort((a, b) => a.id - b.id)
    .slice(-limit).map((f) => recordOfFlow(f, ctx));
  const ended = filter.active === true ? [] : (await writes.read("dataflow_list", () => store.endedDataflows({
    dataType: filter.dataType, quadkey: filter.quadkey, beforeId: filter.before, limit,
  }))).reverse().map((row) => recordOfRow(row, ctx));
  if (ended.length === 0) return active;
  if (active.length === 0) return ended;
  return [...active, ...ended].sort((a, b) => a.id - b.id).slice(-limit);
}

/** Active dataflows: all, live (media), sending, holding a UDP forward port; and live leases. */
export interface FlowCounts {
  active: number;
  live: number;
  sending: number;
  forwarding: number;
  demands: number;
}

/** The {@link FlowCounts} of `flows`, with `demands` leases. */
export function countFlows(flows: Iterable<Flow>, demands: number): FlowCounts {
  const c: FlowCounts = { active: 0, live: 0, sending: 0, forwarding: 0, demands };
  for (const f of flows) {
    c.active++;
    if (f.state === "live") c.live++;
    if (f.send) c.sending++;
    if (f.port !== null) c.forwarding++;
  }
  return c;
}
