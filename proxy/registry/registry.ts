/**
 * The registration domain (5GMETA steps 3–6): register, keep alive, expire and delete
 * dataflows, hold demand leases, and decide `send`. Hot state lives in memory (so a
 * keep-alive is a map lookup) and is written through to the store, except `lastSeen`,
 * which is flushed in batches every `flushMs`.
 *
 * Restart semantics: active dataflows and leases are reloaded; each active dataflow gets
 * a fresh keep-alive window from the moment the proxy is back, because a proxy that was
 * down is not the sensor's fault. At most `flushMs` of last-seen times are lost in a crash,
 * which can only make a dataflow live longer, never end early.
 *
 * Storage faults: every other change is written first and made in memory only once the
 * write succeeded (proxy/registry/store_writes.ts); a request whose write fails answers
 * 503, a timer's failed write is retried on its next tick, and nothing throws out of a
 * timer. Keep-alives, media presence and media state are flushed in batches, so live
 * streams go on while the disk is full. Ended dataflows are pruned after `endedRetentionMs`.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { DataflowMetadata, DataflowRecord, DemandLease, DemandRequest, Keepalive, Registration } from "../../shared/mod.ts";
import { logger } from "../log.ts";
import { PortsExhaustedError } from "../store/store.ts";
import type { Cancel } from "./clock.ts";
import { DemandBook, quadkeyMatches } from "./demand_book.ts";
import { Emitter, type Unsubscribe } from "./emitter.ts";
import { CapacityError, NotFoundError, StoreUnavailableError } from "./errors.ts";
import {
  type EndReason, type Flow, indexedFields, type MediaState,
  positionQuadkey, presentAt, recordOfFlow, recordOfRow, topicsOf, whipUrlOf,
} from "./flow.ts";
import { ControlSigner } from "../bus/control_signer.ts";
import { backfillPositions, loadFlows } from "./load_flows.ts";
import { LIST_MAX, type IngestCheck, type ListFilter, type RegistryEvents, type RegistryOptions } from "./registry_types.ts";
import { StoreWrites } from "./store_writes.ts";

const log = logger("registry");
const DAY_MS = 86_400_000;
/** Ended rows deleted per prune statement, and at most per tick (the rest waits for the next). */
const PRUNE_BATCH = 1000;
const PRUNE_MAX_PER_TICK = 20_000;

type Options = Required<Omit<RegistryOptions, "writes">>;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The registry; one per proxy. */
export class Registry extends Emitter<RegistryEvents> {
  readonly #o: Options;
  readonly #flows: Map<number, Flow>;
  readonly #dirty = new Set<number>();
  readonly #demands: DemandBook;
  readonly #writes: StoreWrites;
  #timers: Cancel[] = [];
  #lastPrune = -Infinity;
  /** Ended dataflows deleted by retention since start. */
  pruned = 0;

  /** Loads the store's active dataflows and leases; throws when the store cannot be read (or a
   * start-up write fails), which the proxy reports as an unusable `--db`. */
  constructor(options: RegistryOptions) {
    super();
    this.#o = {
      expiryFactor: 3, sweepMs: 1000, flushMs: 1000, endedRetentionMs: 7 * DAY_MS, pruneMs: 60_000,
      controlSeq: () => ControlSigner.shared.nextSeq(), ...options, udpForward: options.udpForward ?? "requested",
    };
    this.#writes = options.writes ?? new StoreWrites(log);
    const now = this.#now();
    backfillPositions(this.#o.store);
    const { flows, restated } = loadFlows(this.#o.store, now, log);
    this.#flows = flows;
    for (const id of restated) this.#dirty.add(id);
    this.#demands = new DemandBook(this.#o.store, this.#writes);
    for (const flow of this.#flows.values()) flow.send = this.#wants(flow, now);
  }

  #now(): number {
    return this.#o.clock.now();
  }

  #ctx() {
    return { publicUrl: this.#o.publicUrl, udpForwardHost: this.#o.udpForwardHost };
  }

  /** Whether `metadata`'s dataflow gets a UDP forward port under the `udpForward` policy. */
  #forwards(metadata: DataflowMetadata): boolean {
    const policy = this.#o.udpForward;
    return policy === "all" ? metadata.udpForward !== false : policy === "requested" && metadata.udpForward === true;
  }

  #udpForwardOf(flow: Flow) {
    return flow.port === null ? null : { host: this.#o.udpForwardHost, port: flow.port };
  }

  #wants(flow: Flow, now: number): boolean {
    return this.#o.sendPolicy === "always" || this.#demands.wants(flow, now);
  }

  /**
   * Starts the expiry sweep and the last-seen flush timers, and announces the current
   * `send` of every active dataflow (after a restart, leases may have run out meanwhile).
   */
  start(): void {
    this.stop();
    for (const flow of this.#flows.values()) this.emit("send", { id: flow.id, send: flow.send });
    this.#timers = [
      this.#o.clock.every(this.#o.sweepMs, () => this.#guarded("sweep", () => this.#tick())),
      this.#o.clock.every(this.#o.flushMs, () => this.#guarded("flush", () => this.flush())),
    ];
  }

  /** A timer's work: whatever it throws is logged, never thrown out of the event loop. */
  #guarded(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      log.error("registry timer failed", { timer: what, error });
    }
  }

  /** The sweep timer: expiry, retention, and a probe of a store that failed. */
  #tick(): void {
    this.sweep();
    const now = this.#now();
    if (now - this.#lastPrune >= this.#o.pruneMs) this.prune();
    if (!this.#writes.healthy) this.#writes.attempt("probe", () => this.#o.store.probe(now));
  }

  /** Deletes ended dataflows older than the retention (a bounded number per call); returns how many. */
  prune(): number {
    const now = this.#now();
    this.#lastPrune = now;
    let deleted = 0;
    this.#writes.attempt("prune", () => {
      for (let n = PRUNE_BATCH; n === PRUNE_BATCH && deleted < PRUNE_MAX_PER_TICK;) {
        n = this.#o.store.pruneEnded(now - this.#o.endedRetentionMs, PRUNE_BATCH);
        deleted += n;
      }
    });
    this.pruned += deleted;
    if (deleted > 0) log.info("ended dataflows pruned", { count: deleted, retentionMs: this.#o.endedRetentionMs });
    return deleted;
  }

  /** False while the store's last write failed (for `/ready`). */
  get storeHealthy(): boolean {
    return this.#writes.healthy;
  }

  /** Failed store writes by operation since start (for `vsb_store_errors_total`). */
  storeErrors(): ReadonlyMap<string, number> {
    return this.#writes.errors;
  }

  /** Stops the timers and flushes last-seen times. */
  stop(): void {
    for (const cancel of this.#timers) cancel();
    this.#timers = [];
    this.flush();
  }

  /** Registers a dataflow (step 3–4) and returns its id, topic, routing key, `send`, ingest
   * credentials and UDP forward port (allocated only when it forwards). */
  register(metadata: DataflowMetadata, owner?: string): Registration {
    const now = this.#now();
    const token = randomBytes(32).toString("base64url");
    const fields = indexedFields(metadata);
    const tokenHash = sha256(token).toString("hex");
    // Signs this dataflow's control messages; handed to the sensor once, in this answer.
    const controlKey = randomBytes(32).toString("base64url");
    const keepaliveSeconds = this.#o.keepaliveSeconds;
    const position = positionQuadkey(metadata);
    const ids = capacity(() => this.#writes.run("dataflow_insert", () => this.#o.store.insertDataflow({
      metadata: JSON.stringify(metadata), ...fields, positionQuadkey: position ?? "", tokenHash, controlKey, keepaliveSeconds, now,
      udpForward: this.#forwards(metadata), owner,
    })));
    const flow: Flow = {
      id: ids.id, metadata, ...fields, positionQuadkey: position, tokenHash, controlKey, keepaliveSeconds,
      registeredAt: now, lastSeen: now, state: "registered", send: false, port: ids.port, owner: owner ?? null,
    };
    flow.send = this.#wants(flow, now);
    this.#flows.set(flow.id, flow);
    log.info("registered", { id: flow.id, quadkey: flow.quadkey, udpForwardPort: flow.port, send: flow.send, owner: flow.owner });
    if (metadata.udpForward === true && flow.port === null) log.info("udp forward not given: --udp-forward is off", { id: flow.id });
    this.emit("registered", { id: flow.id, metadata });
    this.emit("send", { id: flow.id, send: flow.send });
    return {
      id: flow.id,
      ...topicsOf(flow.dataType, flow.dataSubType, flow.id),
      send: flow.send,
      keepaliveSeconds,
      ingest: { whipUrl: whipUrlOf(this.#o.publicUrl, flow.id), token },
      udpForward: this.#udpForwardOf(flow),
      // Taken after the "send" event above: its control message is older than this answer.
      control: { key: controlKey, seq: this.#o.controlSeq() },
    };
  }

  /** The active flow `id`, expiring it first if its keep-alives ran out; else NotFoundError. */
  #active(id: number, now: number): Flow {
    const flow = this.#flows.get(id);
    if (flow && this.#isDue(flow, now)) this.#end(flow, "expired", now);
    else if (flow) return flow;
    const row = this.#o.store.getDataflow(id);
    if (row) throw new NotFoundError(`dataflow "${id}" has ended (${row.end_reason ?? "expired"}); register again`);
    throw new NotFoundError(`dataflow "${id}" does not exist`);
  }

  /** Missed keep-alives and no media for `expiryFactor` periods: media is presence too. */
  #isDue(flow: Flow, now: number): boolean {
    return now - presentAt(flow) > flow.keepaliveSeconds * this.#o.expiryFactor * 1000;
  }

  /**
   * Keep-alive (steps 5–6): refreshes `id`, optionally replaces its metadata, answers `send`.
   * The keep-alive is presence even when new metadata cannot be stored (flushed like any other);
   * the metadata, its position key and UDP forward port change only once their write succeeded.
   */
  keepalive(id: number, metadata?: DataflowMetadata): Keepalive {
    const now = this.#now();
    if (this.#demands.expire(now)) this.#refreshSend(now);
    const flow = this.#active(id, now);
    flow.lastSeen = now;
    this.#dirty.add(id);
    if (metadata) {
      // The sensor may have moved: its position key is recomputed with the metadata.
      const fields = indexedFields(metadata);
      const position = positionQuadkey(metadata);
      const forward = this.#forwards(metadata);
      const port = capacity(() => this.#writes.run("dataflow_update", () => this.#o.store.updateDataflow(id,
        { metadata: JSON.stringify(metadata), ...fields, positionQuadkey: position ?? "", now },
        forward === (flow.port !== null) ? undefined : forward)));
      if (port !== flow.port) {
        log.info(port !== null ? "udp forward port allocated" : "udp forward port released", { id, udpForwardPort: port ?? flow.port });
      }
      Object.assign(flow, { metadata, ...fields, positionQuadkey: position, port });
      this.#refreshSend(now, [flow]);
    }
    return { id, send: flow.send, keepaliveSeconds: flow.keepaliveSeconds, controlSeq: this.#o.controlSeq() };
  }

  /**
   * The ingest saw media of dataflow `id` at `at` (its last RTP packet): the dataflow is present
   * while media flows, without keep-alives (a WHIP-only publisher never sends one). Flushed in
   * batches like keep-alives.
   */
  mediaSeen(id: number, at: number): void {
    const flow = this.#flows.get(id);
    if (!flow || at <= (flow.lastMediaAt ?? -Infinity)) return;
    flow.lastMediaAt = at;
    this.#dirty.add(id);
  }

  /** Who registered active dataflow `id` (null: unknown, before roles); NotFoundError when it is not active. */
  ownerOf(id: number): string | null {
    return this.#active(id, this.#now()).owner;
  }

  /** How many active dataflows `owner` registered (expired ones are swept first). */
  activeCountOf(owner: string): number {
    this.sweep();
    let n = 0;
    for (const flow of this.#flows.values()) if (flow.owner === owner) n++;
    return n;
  }

  /** Throws NotFoundError unless dataflow `id` is active. */
  requireActive(id: number): void {
    this.#active(id, this.#now());
  }

  /** Ends dataflow `id` at the sensor's or an operator's request. */
  remove(id: number): void {
    const now = this.#now();
    this.#end(this.#active(id, now), "deleted", now);
  }

  /** Ends `flow`: stored first, so a failed write (StoreUnavailableError) leaves it active to retry. */
  #end(flow: Flow, reason: EndReason, now: number): void {
    this.#writes.run("dataflow_end", () => this.#o.store.endDataflow(flow.id, reason, now, flow.lastSeen, flow.lastMediaAt ?? null));
    this.#flows.delete(flow.id);
    this.#dirty.delete(flow.id);
    log.info(reason === "deleted" ? "dataflow deleted" : "dataflow expired", { id: flow.id, lastSeen: flow.lastSeen, lastMediaAt: flow.lastMediaAt });
    if (flow.send) this.emit("send", { id: flow.id, send: false });
    this.emit("ended", { id: flow.id, reason, metadata: flow.metadata, state: flow.state });
  }

  /** Dataflow `id`, active or ended. */
  get(id: number): DataflowRecord {
    const now = this.#now();
    try {
      return recordOfFlow(this.#active(id, now), this.#ctx());
    } catch (err) {
      const row = this.#o.store.getDataflow(id);
      if (row && !this.#flows.has(id)) return recordOfRow(row, this.#ctx());
      throw err;
    }
  }

  /**
   * One page of the dataflows matching `filter`: the newest `limit` (at most {@link LIST_MAX})
   * with ids below `before`, in id order. Active ones come from memory, ended ones from one
   * indexed SQL page, so the cost follows the page size, not the number of ended rows.
   */
  list(filter: ListFilter = {}): DataflowRecord[] {
    this.sweep();
    const ctx = this.#ctx();
    const limit = Math.min(filter.limit ?? LIST_MAX, LIST_MAX);
    const matches = (f: Flow) => (filter.before === undefined || f.id < filter.before) &&
      (filter.dataType === undefined || f.dataType === filter.dataType) &&
      (filter.quadkey === undefined || quadkeyMatches(filter.quadkey, f));
    const active = filter.active === false ? [] : [...this.#flows.values()].filter(matches).sort((a, b) => a.id - b.id)
      .slice(-limit).map((f) => recordOfFlow(f, ctx));
    const ended = filter.active === true ? [] : this.#o.store.endedDataflows({
      dataType: filter.dataType, quadkey: filter.quadkey, beforeId: filter.before, limit,
    }).reverse().map((row) => recordOfRow(row, ctx));
    if (ended.length === 0) return active;
    if (active.length === 0) return ended;
    return [...active, ...ended].sort((a, b) => a.id - b.id).slice(-limit);
  }

  /**
   * The key that signs dataflow `id`'s control messages (active or just ended: its last
   * `send: false` is signed too); null when it has none (registered before keys existed).
   */
  controlKeyOf(id: number): string | null {
    const flow = this.#flows.get(id);
    return flow ? flow.controlKey : (this.#o.store.getDataflow(id)?.control_key ?? null);
  }

  /** The metadata of active dataflow `id` (for event headers), or undefined. */
  metadataOf(id: number): DataflowMetadata | undefined {
    return this.#flows.get(id)?.metadata;
  }

  /** Whether `token` is dataflow `id`'s ingest token (constant time); `unknown` when not active. */
  checkIngestToken(id: number, token: string): IngestCheck {
    const now = this.#now();
    let flow: Flow;
    try {
      flow = this.#active(id, now);
    } catch (err) {
      if (err instanceof NotFoundError) return "unknown";
      throw err; // the store failed while ending it: 503, not 404
    }
    return timingSafeEqual(sha256(token), Buffer.from(flow.tokenHash, "hex")) ? "ok" : "denied";
  }

  /** The ingest reports whether media flows (`live`) or not (`idle`); flushed in batches, so it never
   * throws on a store fault (a restart turns `live` into `idle` anyway). */
  setMediaState(id: number, state: MediaState): void {
    const flow = this.#flows.get(id);
    if (!flow || flow.state === state) return;
    flow.state = state;
    this.#dirty.add(id);
    log.info("dataflow state changed", { id, state });
    this.emit("state", { id, state });
  }

  /** Takes a demand lease; `send` may change at once for the dataflows it matches. */
  createDemand(request: DemandRequest, owner?: string): DemandLease {
    const now = this.#now();
    const lease = this.#demands.create(request, now, owner);
    log.info("demand created", { demand: lease.id, dataflowId: lease.dataflowId, quadkey: lease.quadkey, owner });
    this.#refreshSend(now);
    return lease;
  }

  /** Renews lease `id` for `ttlSeconds`. */
  renewDemand(id: string, ttlSeconds: number): DemandLease {
    const now = this.#now();
    if (this.#demands.expire(now)) this.#refreshSend(now);
    const lease = this.#demands.renew(id, ttlSeconds, now);
    this.#refreshSend(now);
    return lease;
  }

  /** Ends lease `id`. */
  deleteDemand(id: string): void {
    const now = this.#now();
    this.#demands.delete(id, now);
    log.info("demand deleted", { demand: id });
    this.#refreshSend(now);
  }

  /** Lease `id`. */
  getDemand(id: string): DemandLease {
    return this.#demands.get(id, this.#now());
  }

  /** Live leases (only those `owner` took, when given). */
  listDemands(owner?: string): DemandLease[] {
    return this.#demands.list(this.#now(), owner);
  }

  /** How many leases are live (only those `owner` took, when given). */
  demandCount(owner?: string): number {
    return this.#demands.count(this.#now(), owner);
  }

  /** Who took live lease `id` (null: unknown); NotFoundError when it is not live. */
  ownerOfDemand(id: string): string | null {
    return this.#demands.ownerOf(id, this.#now());
  }

  #refreshSend(now: number, flows: Iterable<Flow> = this.#flows.values()): void {
    for (const flow of flows) {
      const send = this.#wants(flow, now);
      if (send === flow.send) continue;
      flow.send = send;
      log.info("send changed", { id: flow.id, send });
      this.emit("send", { id: flow.id, send });
    }
  }

  /** Expires dataflows whose keep-alives ran out and leases past their TTL. A dataflow whose end
   * cannot be stored stays active (and streaming) and is tried again on the next sweep. */
  sweep(): void {
    const now = this.#now();
    for (const flow of [...this.#flows.values()]) {
      if (!this.#isDue(flow, now)) continue;
      try {
        this.#end(flow, "expired", now);
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) log.error("expiry failed", { id: flow.id, error });
      }
    }
    if (this.#demands.expire(now)) this.#refreshSend(now);
  }

  /** Writes pending last-seen/last-media times and media states to the store in one transaction;
   * a failed batch stays pending for the next flush. */
  flush(): void {
    if (this.#dirty.size === 0) return;
    const batch: [number, number, number | null, string][] = [];
    for (const id of this.#dirty) {
      const flow = this.#flows.get(id);
      if (flow) batch.push([id, flow.lastSeen, flow.lastMediaAt ?? null, flow.state]);
    }
    if (this.#writes.attempt("flush", () => this.#o.store.touchMany(batch))) this.#dirty.clear();
  }

  /** Counts for metrics and `/ready`. */
  counts(): { active: number; live: number; sending: number; forwarding: number; demands: number } {
    let live = 0;
    let sending = 0;
    let forwarding = 0;
    for (const f of this.#flows.values()) {
      if (f.state === "live") live++;
      if (f.send) sending++;
      if (f.port !== null) forwarding++;
    }
    return { active: this.#flows.size, live, sending, forwarding, demands: this.listDemands().length };
  }
}

/** Runs `fn`, turning a full UDP port range into a CapacityError (503). */
function capacity<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PortsExhaustedError) throw new CapacityError(err.message, { cause: err });
    throw err;
  }
}

export type { EndReason, IngestCheck, ListFilter, MediaState, RegistryEvents, RegistryOptions, Unsubscribe };
