/**
 * The registry's active flows in memory and their lifecycle against the store: lookup with
 * expiry on read, the one end (expired or deleted) of a flow however many callers race for it,
 * the sweep of flows whose keep-alives ran out, and the batched flush of their touches.
 * The registry decides `send` and emits events; this table only says when a flow has ended.
 */
import type { Logger } from "../log.ts";
import type { DataflowStore } from "../store/store_api.ts";
import type { DataflowRow } from "../store/store.ts";
import { NotFoundError, StoreUnavailableError } from "./errors.ts";
import { type EndReason, type Flow, flowFromRow, presentAt } from "./flow.ts";
import { flushTouches } from "./registry_upkeep.ts";
import type { StoreWrites } from "./store_writes.ts";

/** Control keys of ended dataflows kept for their last `send: false` (the oldest go first). */
const ENDED_KEYS = 4096;

/** Options of {@link FlowTable}. */
export interface FlowTableOptions {
  store: DataflowStore;
  writes: StoreWrites;
  /** Missed keep-alive periods before a flow expires. */
  expiryFactor: number;
  log: Logger;
  /** Called once per ended flow, after it left the table; `remote` when another replica ended it. */
  onEnded(flow: Flow, reason: EndReason, remote: boolean): void;
  /** Called for a flow another replica registered, before it is used (decide its `send`). */
  onAdopted(flow: Flow): void;
}

/** Active flows by id; one per registry. */
export class FlowTable {
  readonly flows: Map<number, Flow>;
  /** Flows whose last-seen, last-media or state changed since the last flush. */
  readonly dirty = new Set<number>();
  /** Ends whose write is in flight: a second end of the same flow waits for the first. */
  readonly #ending = new Map<number, Promise<void>>();
  readonly #endedKeys = new Map<number, string | null>();
  /** Registrations whose write is in flight, by owner ('' for none): they count against limits. */
  readonly #registering = new Map<string, number>();
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly o: FlowTableOptions, flows: Map<number, Flow>) {
    this.flows = flows;
  }

  /** Missed keep-alives and no media for `expiryFactor` periods: media is presence too. */
  isDue(flow: Flow, now: number): boolean {
    return now - presentAt(flow) > flow.keepaliveSeconds * this.o.expiryFactor * 1000;
  }

  /** The flow `id` if it is active and not due, from memory only (the keep-alive's path). */
  live(id: number, now: number): Flow | undefined {
    const flow = this.flows.get(id);
    return flow && !this.isDue(flow, now) ? flow : undefined;
  }

  /**
   * The active flow `id` (ending it first if its keep-alives ran out), or else its stored row. A
   * flow active in the store but not here (another replica registered it) is adopted.
   */
  async find(id: number, now: number): Promise<{ flow?: Flow; row?: DataflowRow }> {
    const flow = this.flows.get(id);
    if (flow && !this.isDue(flow, now)) return { flow };
    if (flow) await this.end(flow, "expired", now);
    else await this.#ending.get(id)?.catch(() => undefined);
    const kept = this.flows.get(id);
    if (kept && !this.isDue(kept, now)) return { flow: kept }; // another replica kept it alive
    const row = await this.o.writes.read("dataflow_get", () => this.o.store.getDataflow(id));
    if (row?.active === 1 && !kept) return { flow: this.#adopt(row) };
    return { row };
  }

  /** Takes in an active row another replica wrote (its keep-alive window as stored). */
  #adopt(row: DataflowRow): Flow {
    const existing = this.flows.get(row.id);
    if (existing) return existing;
    const flow = flowFromRow(row);
    this.o.onAdopted(flow);
    this.flows.set(flow.id, flow);
    return flow;
  }

  /**
   * Reads dataflow `id` again after another replica changed it: adopts it, takes its metadata and
   * presence, or drops it when it ended there. Returns the flow when it is (still) active here.
   */
  async reload(id: number): Promise<Flow | undefined> {
    const row = await this.o.store.getDataflow(id);
    const flow = this.flows.get(id);
    if (!row || row.active !== 1) {
      if (flow && !this.#ending.has(id)) this.#drop(flow, (row?.end_reason as EndReason | null) ?? "expired", true);
      return undefined;
    }
    if (!flow) return this.#adopt(row);
    const stored = flowFromRow(row);
    Object.assign(flow, {
      metadata: stored.metadata, dataType: stored.dataType, dataSubType: stored.dataSubType, quadkey: stored.quadkey,
      positionQuadkey: stored.positionQuadkey, port: stored.port,
    });
    this.#present(flow, row);
    return flow;
  }

  /** Takes the stored presence of `row` when it is newer than ours (another replica's keep-alives). */
  #present(flow: Flow, row: DataflowRow): void {
    flow.lastSeen = Math.max(flow.lastSeen, row.last_seen_at);
    if (row.last_media_at !== null && row.last_media_at > (flow.lastMediaAt ?? -Infinity)) flow.lastMediaAt = row.last_media_at;
  }

  #drop(flow: Flow, reason: EndReason, remote: boolean): void {
    if (this.flows.get(flow.id) !== flow) return;
    this.flows.delete(flow.id);
    this.dirty.delete(flow.id);
    this.#endedKeys.set(flow.id, flow.controlKey);
    if (this.#endedKeys.size > ENDED_KEYS) this.#endedKeys.delete(this.#endedKeys.keys().next().value!);
    this.o.onEnded(flow, reason, remote);
  }

  /** The active flow `id`, ending it first if its keep-alives ran out; else NotFoundError. */
  async active(id: number, now: number): Promise<Flow> {
    const { flow, row } = await this.find(id, now);
    if (flow) return flow;
    if (row) throw new NotFoundError(`dataflow "${id}" has ended (${row.end_reason ?? "expired"}); register again`);
    throw new NotFoundError(`dataflow "${id}" does not exist`);
  }

  /**
   * Ends `flow`: stored first, so a failed write (StoreUnavailableError) leaves it active to retry.
   * The store's end is a claim: an expiry holds only while the stored presence is old too (another
   * replica may have kept it alive: then its presence is taken and it stays), and of replicas
   * racing for one end, only the one whose claim won announces it (the others drop it quietly).
   */
  end(flow: Flow, reason: EndReason, now: number): Promise<void> {
    const pending = this.#ending.get(flow.id);
    if (pending) return pending;
    const window = flow.keepaliveSeconds * this.o.expiryFactor * 1000;
    const ending = (async () => {
      let claimed: boolean;
      let row: DataflowRow | undefined;
      try {
        claimed = await this.o.writes.run("dataflow_end", () => this.o.store.endDataflow(flow.id, reason, now, flow.lastSeen,
          flow.lastMediaAt ?? null, reason === "expired" ? now - window : undefined));
        if (!claimed) row = await this.o.writes.read("dataflow_get", () => this.o.store.getDataflow(flow.id));
      } finally {
        this.#ending.delete(flow.id);
      }
      if (!claimed && row?.active === 1) return this.#present(flow, row);
      this.#drop(flow, claimed ? reason : ((row?.end_reason as EndReason | null) ?? reason), !claimed);
    })();
    this.#ending.set(flow.id, ending);
    return ending;
  }

  /** Ends every flow whose keep-alives ran out; one whose end cannot be stored stays for the next sweep. */
  async expireDue(now: number): Promise<void> {
    const due = [...this.flows.values()].filter((flow) => this.isDue(flow, now));
    await Promise.all(due.map((flow) => this.end(flow, "expired", now).catch((error) => {
      if (!(error instanceof StoreUnavailableError)) this.o.log.error("expiry failed", { id: flow.id, error });
    })));
  }

  /** Counts a registration of `owner` as active until the returned function is called. */
  reserve(owner: string | undefined): () => void {
    const key = owner ?? "";
    this.#registering.set(key, (this.#registering.get(key) ?? 0) + 1);
    return () => {
      const n = this.#registering.get(key)! - 1;
      if (n === 0) this.#registering.delete(key);
      else this.#registering.set(key, n);
    };
  }

  /** Active flows of `owner`, those being registered included, those already due not. */
  countOf(owner: string, now: number): number {
    let n = this.#registering.get(owner) ?? 0;
    for (const flow of this.flows.values()) if (flow.owner === owner && !this.isDue(flow, now)) n++;
    return n;
  }

  /** The control key of active or recently ended flow `id`; null when unknown or keyless. */
  controlKeyOf(id: number): string | null {
    const flow = this.flows.get(id);
    return flow ? flow.controlKey : (this.#endedKeys.get(id) ?? null);
  }

  /** Writes the dirty touches in one batch; flushes run one after another. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => flushTouches(this.flows, this.dirty, this.o.store, this.o.writes))
      .catch((error) => this.o.log.error("flush failed", { error }));
    return this.#flushing;
  }
}
