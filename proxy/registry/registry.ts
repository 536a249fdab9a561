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
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { DataflowMetadata, DataflowRecord, DemandLease, DemandRequest, Keepalive, Registration } from "../../shared/mod.ts";
import { logger } from "../log.ts";
import type { StoreChange } from "../store/store_api.ts";
import { DemandBook } from "./demand_book.ts";
import { Emitter, type Unsubscribe } from "./emitter.ts";
import { NotFoundError } from "./errors.ts";
import { type EndReason, type Flow, type MediaState, recordOfFlow, recordOfRow } from "./flow.ts";
import { FlowTable } from "./flow_table.ts";
import { ControlSigner } from "./control_signer.ts";
import { backfillPositions, loadFlows } from "./load_flows.ts";
import { newFlow, registrationOf, sha256, withMetadata } from "./registration.ts";
import { countFlows, type FlowCounts, listRecords } from "./registry_queries.ts";
import type { IngestCheck, ListFilter, RegistryEvents, RegistryOptions } from "./registry_types.ts";
import { Upkeep } from "./registry_upkeep.ts";
import { StoreWrites } from "./store_writes.ts";

const log = logger("registry");
const DAY_MS = 86_400_000;

type Options = Required<Omit<RegistryOptions, "writes">>;

/** The registry; one per proxy. Built by {@link Registry.open}. */
export class Registry extends Emitter<RegistryEvents> {
  readonly #o: Options;
  readonly #table: FlowTable;
  readonly #flows: Map<number, Flow>;
  readonly #demands: DemandBook;
  readonly #writes: StoreWrites;
  readonly #upkeep: Upkeep;

  private constructor(o: Options, writes: StoreWrites, flows: Map<number, Flow>, demands: DemandBook) {
    super();
    this.#o = o;
    this.#writes = writes;
    this.#table = new FlowTable({
      store: o.store, writes, expiryFactor: o.expiryFactor, log, onEnded: (flow, reason, remote) => this.#ended(flow, reason, remote),
      onAdopted: (flow) => void (flow.send = this.#wants(flow, this.#now())),
    }, flows);
    this.#flows = flows;
    this.#demands = demands;
    this.#upkeep = new Upkeep({ ...o, writes, log, sweep: () => this.sweep(), flush: () => this.flush() });
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
    // deno-lint-ignore prefer-const -- `let`, not `const`: the callback may run inside load(), before the assignment (a const would throw there)
    let registry: Registry | undefined;
    const demands = await DemandBook.load(o.store, writes, (remote) => {
      if (registry) registry.#refreshSend(o.clock.now(), undefined, remote);
    });
    registry = new Registry(o, writes, flows, demands);
    for (const id of restated) registry.#table.dirty.add(id);
    // Several proxies on one store: hear the others' writes (closed with the store).
    await o.store.listen?.((change) => registry.#heard(change));
    return registry;
  }

  #now(): number {
    return this.#o.clock.now();
  }

  #ctx() {
    return { publicUrl: this.#o.publicUrl, udpForwardHost: this.#o.udpForwardHost };
  }

  #wants(flow: Flow, _now: number): boolean {
    return this.#o.sendPolicy === "always" || this.#demands.wants(flow);
  }

  /**
   * Starts the expiry sweep and the last-seen flush timers, and announces the current
   * `send` of every active dataflow (after a restart, leases may have run out meanwhile).
   */
  start(): void {
    for (const flow of this.#flows.values()) this.emit("send", { id: flow.id, send: flow.send });
    this.#upkeep.start();
  }

  /** Deletes ended dataflows older than the retention (a bounded number per call); returns how many. */
  prune(): Promise<number> {
    return this.#upkeep.prune();
  }

  /** Ended dataflows deleted by retention since start. */
  get pruned(): number {
    return this.#upkeep.pruned;
  }

  /** False while the store's last write failed or its last ping did not answer (for `/ready`). */
  get storeHealthy(): boolean {
    return this.#writes.healthy && this.#upkeep.reachable;
  }

  /** False while the store's last ping did not answer (for the watchdog: a full disk is not a hang). */
  get storeReachable(): boolean {
    return this.#upkeep.reachable;
  }

  /** Failed store operations by name since start (for `vsb_store_errors_total`). */
  storeErrors(): ReadonlyMap<string, number> {
    return this.#writes.errors;
  }

  /** Stops the timers and flushes last-seen times. */
  async stop(): Promise<void> {
    this.#upkeep.stop();
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
    const release = this.#table.reserve(owner);
    let flow: Flow;
    try {
      flow = await newFlow(this.#o, this.#writes, { metadata, owner, tokenHash, controlKey, now });
    } finally {
      release();
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

  /**
   * Keep-alive (steps 5–6): refreshes `id`, optionally replaces its metadata, answers `send`.
   * Without metadata it is a map lookup (flushed in batches). The keep-alive is presence even
   * when new metadata cannot be stored; the metadata, its position key and UDP forward port
   * change only once their write succeeded.
   */
  async keepalive(id: number, metadata?: DataflowMetadata): Promise<Keepalive> {
    const now = this.#now();
    const expiring = this.#demands.expire(now);
    if (expiring) await expiring; // only when a lease just ran out: the lookup stays synchronous
    const flow = this.#table.live(id, now) ?? await this.#table.active(id, now);
    flow.lastSeen = now;
    this.#table.dirty.add(id);
    if (metadata) {
      await withMetadata(flow, metadata, now, this.#o, this.#writes, log);
      this.#refreshSend(now, [flow]);
    }
    return { id, send: flow.send, keepaliveSeconds: flow.keepaliveSeconds, controlSeq: this.#o.controlSeq() };
  }

  /**
   * The keep-alive's fast path, without a promise: when `id` is live in memory, no lease is due
   * and `mayKeep(owner)` holds, refreshes it and answers as {@link keepalive} would. Undefined
   * (nothing changed) otherwise: then {@link keepalive} and the owner check give the answer.
   */
  keepaliveLive(id: number, mayKeep: (owner: string | null) => boolean): Keepalive | undefined {
    const now = this.#now();
    if (this.#demands.dueBy(now)) return undefined;
    const flow = this.#table.live(id, now);
    if (!flow || !mayKeep(flow.owner)) return undefined;
    flow.lastSeen = now;
    this.#table.dirty.add(id);
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
    this.#table.dirty.add(id);
  }

  /** Who registered active dataflow `id` (null: unknown, before roles); NotFoundError when it is not active. */
  async ownerOf(id: number): Promise<string | null> {
    return (await this.#table.active(id, this.#now())).owner;
  }

  /** How many active dataflows `owner` registered, those being registered included and those
   * whose keep-alives ran out (ended by the next sweep) not. */
  activeCountOf(owner: string): number {
    return this.#table.countOf(owner, this.#now());
  }

  /** Rejects with NotFoundError unless dataflow `id` is active. */
  async requireActive(id: number): Promise<void> {
    await this.#table.active(id, this.#now());
  }

  /** Ends dataflow `id` at the sensor's or an operator's request. */
  async remove(id: number): Promise<void> {
    const now = this.#now();
    await this.#table.end(await this.#table.active(id, now), "deleted", now);
  }

  /** `flow` has ended (its end is stored; by another replica when `remote`, which announces it). */
  #ended(flow: Flow, reason: EndReason, remote: boolean): void {
    log.info(reason === "deleted" ? "dataflow deleted" : "dataflow expired", { id: flow.id, lastSeen: flow.lastSeen, lastMediaAt: flow.lastMediaAt, remote });
    const by = remote ? { remote: true as const } : {};
    if (flow.send) this.emit("send", { id: flow.id, send: false, ...by });
    this.emit("ended", { id: flow.id, reason, metadata: flow.metadata, state: flow.state, ...by });
  }

  /** Another replica changed a row: read it again; `send` changes it causes are not announced here. */
  #heard(change: StoreChange): void {
    const now = this.#now();
    const apply = "dataflow" in change
      ? this.#table.reload(change.dataflow).then((flow) => flow && this.#refreshSend(now, [flow], true))
      : this.#reloadDemand(change.demand, now);
    apply.catch((error) => log.warn("change of another replica not applied", { change, error }));
  }

  /** Reads lease `id` again; a new one naming a dataflow is announced as "demanded" (remote). */
  async #reloadDemand(id: string, now: number): Promise<void> {
    const known = this.#demands.has(id);
    if (!(await this.#demands.reload(id))) return;
    this.#refreshSend(now, undefined, true);
    if (known || !this.#demands.has(id)) return;
    let dataflowId: number | undefined;
    try {
      dataflowId = this.#demands.get(id, this.#now()).dataflowId;
    } catch {
      return; // already past its TTL: nobody will consume from it
    }
    if (dataflowId !== undefined) this.emit("demanded", { id: dataflowId, remote: true });
  }

  /** Dataflow `id`, active or ended. */
  async get(id: number): Promise<DataflowRecord> {
    const { flow, row } = await this.#table.find(id, this.#now());
    if (flow) return recordOfFlow(flow, this.#ctx());
    if (row) return recordOfRow(row, this.#ctx());
    throw new NotFoundError(`dataflow "${id}" does not exist`);
  }

  /**
   * The media state of dataflow `id` as stored, read from the store (not memory): another
   * replica's ingest flushes its `live`/`idle` there every second without notifying; "expired"
   * once it ended, undefined when there is no such dataflow.
   */
  async storedState(id: number): Promise<string | undefined> {
    const row = await this.#writes.read("dataflow_get", () => this.#o.store.getDataflow(id));
    if (!row) return undefined;
    return row.active === 1 ? row.state : "expired";
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
    return this.#table.controlKeyOf(id);
  }

  /** The metadata of active dataflow `id` (for event headers), or undefined. */
  metadataOf(id: number): DataflowMetadata | undefined {
    return this.#flows.get(id)?.metadata;
  }

  /** Whether `token` is dataflow `id`'s ingest token (constant time); `unknown` when not active. */
  async checkIngestToken(id: number, token: string): Promise<IngestCheck> {
    let flow: Flow;
    try {
      flow = await this.#table.active(id, this.#now());
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
    this.#table.dirty.add(id);
    log.info("dataflow state changed", { id, state });
    this.emit("state", { id, state });
  }

  /** Takes a demand lease; `send` may change at once for the dataflows it matches. */
  async createDemand(request: DemandRequest, owner?: string): Promise<DemandLease> {
    const lease = await this.#demands.create(request, this.#now(), owner);
    log.info("demand created", { demand: lease.id, dataflowId: lease.dataflowId, quadkey: lease.quadkey, owner });
    this.#refreshSend(this.#now());
    if (lease.dataflowId !== undefined) this.emit("demanded", { id: lease.dataflowId });
    return lease;
  }

  /** Renews lease `id` for `ttlSeconds`. */
  async renewDemand(id: string, ttlSeconds: number): Promise<DemandLease> {
    const now = this.#now();
    await this.#demands.expire(now);
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

  /** Recomputes `send`; a change caused by another replica's write is `remote` (it announced it). */
  #refreshSend(now: number, flows: Iterable<Flow> = this.#flows.values(), remote = false): void {
    for (const flow of flows) {
      const send = this.#wants(flow, now);
      if (send === flow.send) continue;
      flow.send = send;
      log.info("send changed", { id: flow.id, send, remote });
      this.emit("send", remote ? { id: flow.id, send, remote } : { id: flow.id, send });
    }
  }

  /** Expires dataflows whose keep-alives ran out and leases past their TTL. A dataflow whose end
   * cannot be stored stays active (and streaming) and is tried again on the next sweep. */
  async sweep(): Promise<void> {
    const now = this.#now();
    await this.#table.expireDue(now);
    await this.#demands.expire(now);
  }

  /** Writes pending last-seen/last-media times and media states to the store in one batch;
   * a failed batch stays pending for the next flush. Flushes run one after another. */
  flush(): Promise<void> {
    return this.#table.flush();
  }

  /** Counts for metrics and `/ready`. */
  counts(): FlowCounts {
    return countFlows(this.#flows.values(), this.listDemands().length);
  }
}

export type { EndReason, IngestCheck, ListFilter, MediaState, RegistryEvents, RegistryOptions, Unsubscribe };
