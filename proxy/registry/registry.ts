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
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { DataflowMetadata, DataflowRecord, DemandLease, DemandRequest, Keepalive, Registration } from "../../shared/mod.ts";
import { logger } from "../log.ts";
import { PortsExhaustedError } from "../store/store.ts";
import type { Cancel } from "./clock.ts";
import { DemandBook, quadkeyMatches } from "./demand_book.ts";
import { Emitter, type Unsubscribe } from "./emitter.ts";
import { CapacityError, NotFoundError } from "./errors.ts";
import {
  type EndReason, type Flow, flowFromRow, indexedFields, type MediaState,
  positionQuadkey, presentAt, recordOfFlow, recordOfRow, topicsOf, whipUrlOf,
} from "./flow.ts";
import { ControlSigner } from "../bus/control_signer.ts";
import type { IngestCheck, ListFilter, RegistryEvents, RegistryOptions } from "./registry_types.ts";

const log = logger("registry");

/** The position key of a stored metadata JSON; undefined when it does not parse. */
function positionOfRow(json: string): string | undefined {
  try {
    return positionQuadkey(JSON.parse(json));
  } catch {
    return undefined; // unreadable metadata: matched by its sent key alone
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The registry; one per proxy. */
export class Registry extends Emitter<RegistryEvents> {
  readonly #o: Required<RegistryOptions>;
  readonly #flows = new Map<number, Flow>();
  readonly #dirty = new Set<number>();
  readonly #demands: DemandBook;
  #timers: Cancel[] = [];

  constructor(options: RegistryOptions) {
    super();
    this.#o = {
      expiryFactor: 3, sweepMs: 1000, flushMs: 1000, controlSeq: () => ControlSigner.shared.nextSeq(), ...options,
      udpForward: options.udpForward ?? "requested",
    };
    const now = this.#now();
    for (const row of this.#o.store.activeDataflows()) {
      const flow = flowFromRow(row);
      flow.lastSeen = Math.max(flow.lastSeen, now);
      // No media session survives a restart: the sensor has to push again.
      if (flow.state === "live") {
        flow.state = "idle";
        this.#o.store.setState(flow.id, "idle");
      }
      this.#flows.set(flow.id, flow);
    }
    this.#demands = new DemandBook(this.#o.store);
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
      this.#o.clock.every(this.#o.sweepMs, () => this.sweep()),
      this.#o.clock.every(this.#o.flushMs, () => this.flush()),
    ];
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
    let ids: { id: number; port: number | null };
    try {
      ids = this.#o.store.insertDataflow({
        metadata: JSON.stringify(metadata), ...fields, tokenHash, controlKey, keepaliveSeconds, now,
        udpForward: this.#forwards(metadata), owner,
      });
    } catch (err) {
      if (err instanceof PortsExhaustedError) throw new CapacityError(err.message, { cause: err });
      throw err;
    }
    const flow: Flow = {
      id: ids.id, metadata, ...fields, positionQuadkey: positionQuadkey(metadata), tokenHash, controlKey, keepaliveSeconds,
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

  /** Keep-alive (steps 5–6): refreshes `id`, optionally replaces its metadata, answers `send`. */
  keepalive(id: number, metadata?: DataflowMetadata): Keepalive {
    const now = this.#now();
    if (this.#demands.expire(now)) this.#refreshSend(now);
    const flow = this.#active(id, now);
    flow.lastSeen = now;
    if (metadata) {
      // The sensor may have moved: its position key is recomputed with the metadata.
      const forward = this.#forwards(metadata);
      if (forward !== (flow.port !== null)) this.#setForward(flow, forward);
      Object.assign(flow, { metadata, ...indexedFields(metadata), positionQuadkey: positionQuadkey(metadata) });
      this.#o.store.updateMetadata(id, { metadata: JSON.stringify(metadata), ...indexedFields(metadata), now });
      this.#refreshSend(now, [flow]);
    } else {
      this.#dirty.add(id);
    }
    return { id, send: flow.send, keepaliveSeconds: flow.keepaliveSeconds, controlSeq: this.#o.controlSeq() };
  }

  /** A keep-alive's metadata asks for the UDP forward (or no longer does): take or release a port. */
  #setForward(flow: Flow, on: boolean): void {
    try {
      flow.port = this.#o.store.setUdpForward(flow.id, on);
    } catch (err) {
      if (err instanceof PortsExhaustedError) throw new CapacityError(err.message, { cause: err });
      throw err;
    }
    log.info(on ? "udp forward port allocated" : "udp forward port released", { id: flow.id, udpForwardPort: flow.port });
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

  #end(flow: Flow, reason: EndReason, now: number): void {
    this.#flows.delete(flow.id);
    this.#dirty.delete(flow.id);
    this.#o.store.endDataflow(flow.id, reason, now, flow.lastSeen, flow.lastMediaAt ?? null);
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

  /** Dataflows matching `filter`, by id. */
  list(filter: ListFilter = {}): DataflowRecord[] {
    this.sweep();
    const ctx = this.#ctx();
    const inTile = (flow: Parameters<typeof quadkeyMatches>[1]) =>
      filter.quadkey === undefined || quadkeyMatches(filter.quadkey, flow);
    const ofType = (dataType: string) => filter.dataType === undefined || dataType === filter.dataType;
    const newest = (records: DataflowRecord[]) => filter.limit === undefined ? records : records.slice(-filter.limit);
    const active = [...this.#flows.values()].filter((f) => ofType(f.dataType) && inTile(f)).map((f) => recordOfFlow(f, ctx));
    active.sort((a, b) => a.id - b.id);
    if (filter.active === true) return newest(active);
    // Ended rows carry no position key; it is computed from their metadata, so rows stored
    // before it existed match deep prefixes too.
    const ended = this.#o.store.allDataflows()
      .filter((row) => !this.#flows.has(row.id) && ofType(row.data_type) &&
        inTile({ quadkey: row.quadkey, positionQuadkey: filter.quadkey === undefined ? undefined : positionOfRow(row.metadata) }))
      .map((row) => recordOfRow(row, ctx));
    if (filter.active === false) return newest(ended);
    return newest([...active, ...ended].sort((a, b) => a.id - b.id));
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
    } catch {
      return "unknown";
    }
    return timingSafeEqual(sha256(token), Buffer.from(flow.tokenHash, "hex")) ? "ok" : "denied";
  }

  /** The ingest reports whether media flows (`live`) or not (`idle`). */
  setMediaState(id: number, state: MediaState): void {
    const flow = this.#flows.get(id);
    if (!flow || flow.state === state) return;
    flow.state = state;
    this.#o.store.setState(id, state);
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

  /** Expires dataflows whose keep-alives ran out and leases past their TTL. */
  sweep(): void {
    const now = this.#now();
    for (const flow of [...this.#flows.values()]) if (this.#isDue(flow, now)) this.#end(flow, "expired", now);
    if (this.#demands.expire(now)) this.#refreshSend(now);
  }

  /** Writes pending last-seen times to the store in one transaction. */
  flush(): void {
    if (this.#dirty.size === 0) return;
    const batch: [number, number, number | null][] = [];
    for (const id of this.#dirty) {
      const flow = this.#flows.get(id);
      if (flow) batch.push([id, flow.lastSeen, flow.lastMediaAt ?? null]);
    }
    this.#dirty.clear();
    try {
      this.#o.store.touchMany(batch);
    } catch (err) {
      for (const [id] of batch) this.#dirty.add(id);
      log.error("last-seen flush failed", { error: err, count: batch.length });
    }
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
