/**
 * The registration domain (5GMETA steps 3–6): register, keep alive, expire and delete
 * dataflows, hold demand leases, and decide `send`. Hot state lives in memory (so a
 * keep-alive is a map lookup) and is written through to the store (SQLite in this process
 * or PostgreSQL, proxy/store/store_api.ts), except `lastSeen`, which is flushed in batches
 * every `flushMs` (registry_upkeep.ts).
 *
 * Restart semantics: active dataflows and leases are reloaded; each active dataflow gets
 * a fresh keep-alive window from the moment the proxy is back, because a proxy that was
 * down is not the sensor's fault. At most `flushMs` of last-seen times are lost in a crash,
 * which can only make a dataflow live longer, never end early.
 *
 * Storage faults: every other change is awaited in the store first and made in memory only
 * once the write resolved (proxy/registry/store_writes.ts); a request whose write fails answers
 * 503, a timer's failed write is retried on its next tick, and nothing throws out of a timer.
 * Keep-alives, media presence and media state are flushed in batches, so live streams go on
 * while the store is down. Ended dataflows are pruned after `endedRetentionMs`.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { DataflowMetadata, DataflowRecord, DemandLease, DemandRequest, Keepalive, Registration } from "../../shared/mod.ts";
import { logger } from "../log.ts";
import type { DataflowRow } from "../store/store.ts";
import type { Cancel } from "./clock.ts";
import { DemandBook } from "./demand_book.ts";
import { Emitter, type Unsubscribe } from "./emitter.ts";
import { NotFoundError, StoreUnavailableError } from "./errors.ts";
import { type EndReason, type Flow, type MediaState, presentAt, recordOfFlow, recordOfRow } from "./flow.ts";
import { ControlSigner } from "../bus/control_signer.ts";
import { backfillPositions, loadFlows } from "./load_flows.ts";
import { newFlow, registrationOf, withMetadata } from "./registration.ts";
import { listRecords } from "./registry_queries.ts";
import type { IngestCheck, ListFilter, RegistryEvents, RegistryOptions } from "./registry_types.ts";
import { exclusive, flushTouches, pruneEnded } from "./registry_upkeep.ts";
import { StoreWrites } from "./store_writes.ts";

const log = logger("registry");
const DAY_MS = 86_400_000;
/** Control keys of ended dataflows kept for their last `send: false` (the oldest go first). */
const ENDED_KEYS = 4096;

type Options = Required<Omit<RegistryOptions, "writes">>;

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The registry; one per proxy. Built by {@link Registry.open}. */
export class Registry extends Emitter<RegistryEvents> {
  readonly #o: Options;
  readonly #flows: Map<number, Flow>;
  readonly #dirty = new Set<number>();
  readonly #demands: DemandBook;
  readonly #writes: StoreWrites;
  /** Ends whose write is in flight: a second end of the same flow waits for the first. */
  readonly #ending = new Map<number, Promise<void>>();
  readonly #endedKeys = new Map<number, string | null>();
  /** Registrations whose write is in flight, by owner ('' for none): they count against limits. */
  readonly #registering = new Map<string, number>();
  #flushing: Promise<void> = Promise.resolve();
  #timers: Cancel[] = [];
  #lastPrune = -Infinity;
  #reachable = true;
  /** Ended dataflows deleted by retention since start. */
  pruned = 0;

  private constructor(o: Options, writes: StoreWrites, flows: Map<number, Flow>, demands: DemandBook) {
    super();
    this.#o = o;
    this.#writes = writes;
    this.#flows = flows;
    this.#demands = demands;
    const now = this.#now();
    for (const flow of this.#flows.values()) flow.send = this.#wants(flow, now);
  }

  /** Loads the store's active dataflows and leases; rejects when the store cannot be read (or a
   * start-up write fails), which the proxy reports as an unusable `--db`. */
  static async open(options: RegistryOptions): Promise<Registry> {
    const o: Options = {
      expiryFactor: 3, sweepMs: 1000, flushMs: 1000, endedRetentionMs: 7 * DAY_MS, pruneMs: 60_000,
      controlSeq: () => ControlSigner.shared.nextSeq(), ...options, udpForward: options.udpForward ?? "requested",
    };
    const writes = options.writes ?? new StoreWrites(log);
    await backfillPositions(o.store);
    const { flows, restated } = await loadFlows(o.store, o.clock.now(), log);
    const registry = new Registry(o, writes, flows, await DemandBook.load(o.store, writes));
    for (const id of restated) registry.#dirty.add(id);
    return registry;
  }

  #now(): number {
    return this.#o.clock.now();
  }

  #ctx() {
    return { publicUrl: this.#o.publicUrl, udpForwardHost: this.#o.udpForwardHost };
  }

  #wants(flow: Flow, now: number): boolean {
    return this.#o.sendPolicy === "always" || this.#demands.wants(flow, now);
  }

  /**
   * Starts the expiry sweep and the last-seen flush timers, and announces the current
   * `send` of every active dataflow (after a restart, leases may have run out meanwhile).
   */
  start(): void {
    for (const cancel of this.#timers) cancel();
    for (const flow of this.#flows.values()) this.emit("send", { id: flow.id, send: flow.send });
    this.#timers = [
      this.#o.clock.every(this.#o.sweepMs, exclusive(() => this.#tick(), log, "sweep")),
      this.#o.clock.every(this.#o.flushMs, exclusive(() => this.flush(), log, "flush")),
    ];
  }

  /** The sweep timer: expiry, retention, and a probe of a store that failed. */
  async #tick(): Promise<void> {
    await this.sweep();
    const now = this.#now();
    if (now - this.#lastPrune >= this.#o.pruneMs) await this.prune();
    if (!this.#writes.healthy) await this.#writes.attempt("probe", () => this.#o.store.probe(now));
    this.#reachable = await this.#o.store.ping();
  }

  /** Deletes ended dataflows older than the retention (a bounded number per call); returns how many. */
  async prune(): Promise<number> {
    const now = this.#now();
    this.#lastPrune = now;
    const deleted = await pruneEnded(this.#o.store, this.#writes, now - this.#o.endedRetentionMs, log, this.#o.endedRetentionMs);
    this.pruned += deleted;
    return deleted;
  }

  /** False while the store's last write failed or its last ping did not answer (for `/ready`). */
  get storeHealthy(): boolean {
    return this.#writes.healthy && this.#reachable;
  }

  /** False while the store's last ping did not answer (for the watchdog: a full disk is not a hang). */
  get storeReachable(): boolean {
    return this.#reachable;
  }

  /** Failed store operations by name since start (for `vsb_store_errors_total`). */
  storeErrors(): ReadonlyMap<string, number> {
    return this.#writes.errors;
  }

  /** Stops the timers and flushes last-seen times. */
  async stop(): Promise<void> {
    for (const cancel of this.#timers) cancel();
    this.#timers = [];
    await this.flush();
  }

  /** Registers a dataflow (step 3–4) and returns its id, topic, routing key, `send`, ingest
   * credentials and UDP forward port (allocated only when it forwards). It counts in
   * {@link activeCountOf} from this call on, so a per-sensor limit holds across the write. */
  async register(metadata: DataflowMetadata, owner?: string): Promise<Registration> {
    const now = this.#now();
    const token = randomBytes(32).toString("base64url");
    const tokenHash = sha256(token).toString("hex");
    // Signs this dataflow's control messages; handed to the sensor once, in this answer.
    const controlKey = randomBytes(32).toString("base64url");
    const key = owner ?? "";
    this.#registering.set(key, (this.#registering.get(key) ?? 0) + 1);
    let flow: Flow;
    try {
      flow = await newFlow(this.#o, this.#writes, { metadata, owner, tokenHash, controlKey, now });
    } finally {
      const n = this.#registering.get(key)! - 1;
      if (n === 0) this.#registering.delete(key);
      else this.#registering.set(key, n);
    }
    flow.send = this.#wants(flow, now);
    this.#flows.set(flow.id, flow);
    log.info("registered", { id: flow.id, quadkey: flow.quadkey, udpForwardPort: flow.port, send: flow.send, owner: flow.owner });
    if (metadata.udpForward === true && flow.port === null) log.info("udp forward not given: --udp-forward is off", { id: flow.id });
    this.emit("registered", { id: flow.id, metadata });
    this.emit("send", { id: flow.id, send: flow.send });
    // Taken after the "send" event above: its control message is older than this answer.
    return registrationOf(flow, token, this.#o);
  }

  /** The active flow `id` (expiring it first if its keep-alives ran out), or its stored row. */
  async #find(id: number, now: number): Promise<{ flow?: Flow; row?: DataflowRow }> {
    const flow = this.#flows.get(id);
    if (flow && !this.#isDue(flow, now)) return { flow };
    if (flow) await this.#end(flow, "expired", now);
    else await this.#ending.get(id)?.catch(() => undefined);
    return { row: await this.#writes.read("dataflow_get", () => this.#o.store.getDataflow(id)) };
  }

  /** The active flow `id`, expiring it first if its keep-alives ran out; else NotFoundError. */
  async #active(id: number, now: number): Promise<Flow> {
    const { flow, row } = await this.#find(id, now);
    if (flow) return flow;
    if (row) throw new NotFoundError(`dataflow "${id}" has ended (${row.end_reason ?? "expired"}); register again`);
    throw new NotFoundError(`dataflow "${id}" does not exist`);
  }

  /** Missed keep-alives and no media for `expiryFactor` periods: media is presence too. */
  #isDue(flow: Flow, now: number): boolean {
    return now - presentAt(flow) > flow.keepaliveSeconds * this.#o.expiryFactor * 1000;
  }

  /**
   * Keep-alive (steps 5–6): refreshes `id`, optionally replaces its metadata, answers `send`.
   * Without metadata it is a map lookup (flushed in batches). The keep-alive is presence even
   * when new metadata cannot be stored; the metadata, its position key and UDP forward port
   * change only once their write succeeded.
   */
  async keepalive(id: number, metadata?: DataflowMetadata): Promise<Keepalive> {
    const now = this.#now();
    if (this.#demands.expire(now)) this.#refreshSend(now);
    const cached = this.#flows.get(id);
    const flow = cached && !this.#isDue(cached, now) ? cached : await this.#active(id, now);
    flow.lastSeen = now;
    this.#dirty.add(id);
    if (metadata) {
      await withMetadata(flow, metadata, now, this.#o, this.#writes, log);
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
  async ownerOf(id: number): Promise<string | null> {
    return (await this.#active(id, this.#now())).owner;
  }

  /** How many active dataflows `owner` registered, those being registered included and those
   * whose keep-alives ran out (ended by the next sweep) not. */
  activeCountOf(owner: string): number {
    const now = this.#now();
    let n = this.#registering.get(owner) ?? 0;
    for (const flow of this.#flows.values()) if (flow.owner === owner && !this.#isDue(flow, now)) n++;
    return n;
  }

  /** Rejects with NotFoundError unless dataflow `id` is active. */
  async requireActive(id: number): Promise<void> {
    await this.#active(id, this.#now());
  }

  /** Ends dataflow `id` at the sensor's or an operator's request. */
  async remove(id: number): Promise<void> {
    const now = this.#now();
    await this.#end(await this.#active(id, now), "deleted", now);
  }

  /** Ends `flow`: stored first, so a failed write (StoreUnavailableError) leaves it active to retry. */
  #end(flow: Flow, reason: EndReason, now: number): Promise<void> {
    const pending = this.#ending.get(flow.id);
    if (pending) return pending;
    const ending = (async () => {
      try {
        await this.#writes.run("dataflow_end", () => this.#o.store.endDataflow(flow.id, reason, now, flow.lastSeen, flow.lastMediaAt ?? null));
      } finally {
        this.#ending.delete(flow.id);
      }
      if (this.#flows.get(flow.id) !== flow) return;
      this.#flows.delete(flow.id);
      this.#dirty.delete(flow.id);
      this.#endedKeys.set(flow.id, flow.controlKey);
      if (this.#endedKeys.size > ENDED_KEYS) this.#endedKeys.delete(this.#endedKeys.keys().next().value!);
      log.info(reason === "deleted" ? "dataflow deleted" : "dataflow expired", { id: flow.id, lastSeen: flow.lastSeen, lastMediaAt: flow.lastMediaAt });
      if (flow.send) this.emit("send", { id: flow.id, send: false });
      this.emit("ended", { id: flow.id, reason, metadata: flow.metadata, state: flow.state });
    })();
    this.#ending.set(flow.id, ending);
    return ending;
  }

  /** Dataflow `id`, active or ended. */
  async get(id: number): Promise<DataflowRecord> {
    const { flow, row } = await this.#find(id, this.#now());
    if (flow) return recordOfFlow(flow, this.#ctx());
    if (row) return recordOfRow(row, this.#ctx());
    throw new NotFoundError(`dataflow "${id}" does not exist`);
  }

  /** The public view of active dataflow `id` from memory (no store read, no expiry), or undefined. */
  peek(id: number): DataflowRecord | undefined {
    const flow = this.#flows.get(id);
    return flow ? recordOfFlow(flow, this.#ctx()) : undefined;
  }

  /** One page of the dataflows matching `filter` (see {@link listRecords}); expired ones are swept first. */
  async list(filter: ListFilter = {}): Promise<DataflowRecord[]> {
    await this.sweep();
    return await listRecords(this.#flows.values(), this.#o.store, this.#writes, filter, this.#ctx());
  }

  /**
   * The key that signs dataflow `id`'s control messages (active or just ended: its last
   * `send: false` is signed too); null when it has none (registered before keys existed).
   */
  controlKeyOf(id: number): string | null {
    const flow = this.#flows.get(id);
    return flow ? flow.controlKey : (this.#endedKeys.get(id) ?? null);
  }

  /** The metadata of active dataflow `id` (for event headers), or undefined. */
  metadataOf(id: number): DataflowMetadata | undefined {
    return this.#flows.get(id)?.metadata;
  }

  /** Whether `token` is dataflow `id`'s ingest token (constant time); `unknown` when not active. */
  async checkIngestToken(id: number, token: string): Promise<IngestCheck> {
    let flow: Flow;
    try {
      flow = await this.#active(id, this.#now());
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
  async createDemand(request: DemandRequest, owner?: string): Promise<DemandLease> {
    const lease = await this.#demands.create(request, this.#now(), owner);
    log.info("demand created", { demand: lease.id, dataflowId: lease.dataflowId, quadkey: lease.quadkey, owner });
    this.#refreshSend(this.#now());
    return lease;
  }

  /** Renews lease `id` for `ttlSeconds`. */
  async renewDemand(id: string, ttlSeconds: number): Promise<DemandLease> {
    const now = this.#now();
    if (this.#demands.expire(now)) this.#refreshSend(now);
    const lease = await this.#demands.renew(id, ttlSeconds, now);
    this.#refreshSend(this.#now());
    return lease;
  }

  /** Ends lease `id`. */
  async deleteDemand(id: string): Promise<void> {
    await this.#demands.delete(id, this.#now());
    log.info("demand deleted", { demand: id });
    this.#refreshSend(this.#now());
  }

  /** Lease `id`. */
  getDemand(id: string): DemandLease {
    return this.#demands.get(id, this.#now());
  }

  /** Live leases (only those `owner` took, when given). */
  listDemands(owner?: string): DemandLease[] {
    return this.#demands.list(this.#now(), owner);
  }

  /** How many leases are live or being taken (only those `owner` took, when given). */
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
  async sweep(): Promise<void> {
    const now = this.#now();
    const due = [...this.#flows.values()].filter((flow) => this.#isDue(flow, now));
    await Promise.all(due.map((flow) => this.#end(flow, "expired", now).catch((error) => {
      if (!(error instanceof StoreUnavailableError)) log.error("expiry failed", { id: flow.id, error });
    })));
    if (this.#demands.expire(now)) this.#refreshSend(now);
  }

  /** Writes pending last-seen/last-media times and media states to the store in one batch;
   * a failed batch stays pending for the next flush. Flushes run one after another. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => flushTouches(this.#flows, this.#dirty, this.#o.store, this.#writes))
      .catch((error) => log.error("flush failed", { error }));
    return this.#flushing;
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

export type { EndReason, IngestCheck, ListFilter, MediaState, RegistryEvents, RegistryOptions, Unsubscribe };
