/**
 * The registration store on bun:sqlite: dataflows, their UDP forward ports and demand
 * leases. Every statement is prepared once; the registry keeps the hot state in memory
 * and writes through here, so a restart finds everything again. A write that fails (disk
 * full, I/O error, read-only, busy) throws and changes nothing: each method is one
 * transaction, and the port pool is told only after the commit.
 */
import { Database, type Statement } from "bun:sqlite";
import { type PortRange, PortPool } from "./port_pool.ts";
import { MIGRATIONS, PRAGMAS, SCHEMA, SCHEMA_VERSION } from "./schema.ts";

export { type PortRange, PortsExhaustedError } from "./port_pool.ts";

/** One row of `dataflows`, with its UDP port when it holds one. */
export interface DataflowRow {
  id: number;
  metadata: string;
  data_type: string;
  data_sub_type: string;
  quadkey: string;
  position_quadkey: string | null;
  token_hash: string;
  keepalive_seconds: number;
  registered_at: number;
  last_seen_at: number;
  last_media_at: number | null;
  active: number;
  state: string;
  ended_at: number | null;
  end_reason: string | null;
  /** The identity that registered it (null: registered before roles, or by the proxy itself). */
  owner: string | null;
  /** Signs its control messages; null for rows registered before keys existed. */
  control_key: string | null;
  port: number | null;
}

/** The metadata columns a keep-alive with a body replaces. */
export interface MetadataUpdate {
  metadata: string;
  dataType: string;
  dataSubType: string;
  quadkey: string;
  /** Zoom-25 key of the metadata's coordinates; '' when it has none. */
  positionQuadkey: string;
  now: number;
}

/** What a new dataflow row needs. */
export interface NewDataflow extends MetadataUpdate {
  tokenHash: string;
  /** The control key handed to the sensor in the registration answer. */
  controlKey: string;
  keepaliveSeconds: number;
  /** Allocate a UDP forward port for it. */
  udpForward: boolean;
  /** The identity registering it. */
  owner?: string;
}

/** One row of `demands`. */
export interface DemandRow {
  id: string;
  dataflow_id: number | null;
  quadkey: string | null;
  data_type: string | null;
  ttl_seconds: number;
  created_at: number;
  expires_at: number;
  /** The identity that took it. */
  owner?: string | null;
}

/** A page of ended dataflows: the newest `limit` that match, below `beforeId` when given. */
export interface EndedQuery {
  dataType?: string;
  /** Prefix of the sent quadkey or of the position key. */
  quadkey?: string;
  beforeId?: number;
  limit: number;
}

/** A batch item of {@link Store.touchMany}: last-seen, last-media and media state of an active dataflow. */
export type Touch = [id: number, lastSeen: number, lastMedia: number | null, state: string];

const SELECT_FLOW = `SELECT d.*, p.port AS port FROM dataflows d LEFT JOIN udp_ports p ON p.dataflow_id = d.id`;

/** The SQLite store; one per process. */
export class Store {
  readonly #db: Database;
  readonly #pool: PortPool;
  readonly #q: Record<string, Statement>;

  /** Opens (creating, migrating) `path`; throws when it cannot be read or written. */
  constructor(path: string, ports: PortRange) {
    this.#db = new Database(path, { create: true, strict: true });
    for (const pragma of PRAGMAS) this.#db.run(pragma);
    this.#db.transaction(() => this.#migrate())();
    if (this.#version() !== SCHEMA_VERSION) {
      throw new Error(`database "${path}" has schema version "${this.#version()}", expected ${SCHEMA_VERSION}`);
    }
    const used = this.#db.query("SELECT port FROM udp_ports ORDER BY port").all() as { port: number }[];
    const saved = this.#db.query("SELECT value FROM meta WHERE key = 'port_cursor'").get() as { value: string } | null;
    this.#pool = new PortPool(ports, used.map((u) => u.port), saved ? Number(saved.value) : undefined);
    this.#q = this.#prepare();
  }

  #migrate(): void {
    const hasMeta = this.#db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== null;
    let version = hasMeta ? this.#version() : SCHEMA_VERSION;
    if (Number.isInteger(version) && version < SCHEMA_VERSION) {
      // An older database: its tables exist; migrate them before CREATE ... IF NOT EXISTS adds new ones.
      for (; version < SCHEMA_VERSION && MIGRATIONS[version]; version++) {
        for (const stmt of MIGRATIONS[version]!) this.#db.run(stmt);
        this.#db.run("UPDATE meta SET value = ? WHERE key = 'schema_version'", [String(version + 1)]);
      }
    }
    for (const stmt of SCHEMA.split(";").map((s) => s.replace(/--.*$/gm, "").trim()).filter(Boolean)) this.#db.run(stmt);
    this.#db.run("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", [String(SCHEMA_VERSION)]);
    // A real write at open: a read-only or full disk stops the start here, with --db named.
    this.#db.run("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_at', ?)", [String(Date.now())]);
  }

  #version(): number {
    const row = this.#db.query("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | null;
    return row ? Number(row.value) : NaN;
  }

  #prepare(): Record<string, Statement> {
    const db = this.#db;
    return {
      insertFlow: db.prepare(`INSERT INTO dataflows (metadata, data_type, data_sub_type, quadkey, position_quadkey,
        token_hash, keepalive_seconds, registered_at, last_seen_at, owner, control_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
      insertPort: db.prepare("INSERT INTO udp_ports (port, dataflow_id) VALUES (?, ?)"),
      saveCursor: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('port_cursor', ?)"),
      deletePort: db.prepare("DELETE FROM udp_ports WHERE dataflow_id = ? RETURNING port"),
      getFlow: db.prepare(`${SELECT_FLOW} WHERE d.id = ?`),
      activeFlows: db.prepare(`${SELECT_FLOW} WHERE d.active = 1 ORDER BY d.id`),
      touch: db.prepare("UPDATE dataflows SET last_seen_at = ?, last_media_at = ?, state = ? WHERE id = ? AND active = 1"),
      setMetadata: db.prepare(`UPDATE dataflows SET metadata = ?, data_type = ?, data_sub_type = ?, quadkey = ?,
        position_quadkey = ?, last_seen_at = ? WHERE id = ? AND active = 1`),
      endFlow: db.prepare(`UPDATE dataflows SET active = 0, state = 'expired', ended_at = ?, end_reason = ?,
        last_seen_at = ?, last_media_at = ? WHERE id = ? AND active = 1
        AND max(last_seen_at, coalesce(last_media_at, 0)) < ?`),
      getDemand: db.prepare("SELECT * FROM demands WHERE id = ?"),
      prune: db.prepare(`DELETE FROM dataflows WHERE id IN
        (SELECT id FROM dataflows WHERE active = 0 AND ended_at < ? ORDER BY ended_at LIMIT ?)`),
      noPosition: db.prepare("SELECT id, metadata FROM dataflows WHERE position_quadkey IS NULL LIMIT ?"),
      setPosition: db.prepare("UPDATE dataflows SET position_quadkey = ? WHERE id = ?"),
      insertDemand: db.prepare(`INSERT INTO demands (id, dataflow_id, quadkey, data_type, ttl_seconds, created_at,
        expires_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      renewDemand: db.prepare("UPDATE demands SET ttl_seconds = ?, expires_at = ? WHERE id = ?"),
      deleteDemand: db.prepare("DELETE FROM demands WHERE id = ?"),
      allDemands: db.prepare("SELECT * FROM demands ORDER BY created_at, id"),
      probe: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('probed_at', ?)"),
    };
  }

  /** Inserts a dataflow and, when it forwards, allocates its UDP port in one transaction; returns both. */
  insertDataflow(flow: NewDataflow): { id: number; port: number | null } {
    const port = flow.udpForward ? this.#pool.next() : null;
    const id = this.#db.transaction(() => {
      const row = this.#q.insertFlow!.get(flow.metadata, flow.dataType, flow.dataSubType, flow.quadkey,
        flow.positionQuadkey, flow.tokenHash, flow.keepaliveSeconds, flow.now, flow.now, flow.owner ?? null, flow.controlKey) as { id: number };
      if (port !== null) this.#bindPort(port, row.id);
      return row.id;
    })();
    if (port !== null) this.#pool.take(port);
    return { id, port };
  }

  #bindPort(port: number, id: number): void {
    this.#q.insertPort!.run(port, id);
    this.#q.saveCursor!.run(String(port + 1));
  }

  /**
   * Replaces active dataflow `id`'s metadata and, when `udpForward` is given, takes a UDP
   * forward port for it (`true`) or releases its port, all in one transaction; returns the
   * port it holds now.
   */
  updateDataflow(id: number, update: MetadataUpdate, udpForward?: boolean): number | null {
    const current = this.getDataflow(id)?.port ?? null;
    const take = udpForward === true && current === null ? this.#pool.next() : null;
    const release = udpForward === false && current !== null;
    this.#db.transaction(() => {
      this.#q.setMetadata!.run(update.metadata, update.dataType, update.dataSubType, update.quadkey,
        update.positionQuadkey, update.now, id);
      if (take !== null) this.#bindPort(take, id);
      if (release) this.#q.deletePort!.run(id);
    })();
    if (take !== null) {
      this.#pool.take(take);
      return take;
    }
    if (release) {
      this.#pool.release(current);
      return null;
    }
    return current;
  }

  /** The dataflow `id`, active or not. */
  getDataflow(id: number): DataflowRow | undefined {
    return (this.#q.getFlow!.get(id) as DataflowRow | null) ?? undefined;
  }

  /** Every active dataflow, oldest first. */
  activeDataflows(): DataflowRow[] {
    return this.#q.activeFlows!.all() as DataflowRow[];
  }

  /**
   * A page of ended dataflows, newest first: walks the (active, id) index backwards and stops
   * after `limit` matches, so its cost follows the page, not the table.
   */
  endedDataflows(query: EndedQuery): DataflowRow[] {
    const where = ["active = 0"];
    const args: (string | number)[] = [];
    if (query.beforeId !== undefined) {
      where.push("id < ?");
      args.push(query.beforeId);
    }
    if (query.dataType !== undefined) {
      where.push("data_type = ?");
      args.push(query.dataType);
    }
    if (query.quadkey) {
      where.push("(substr(quadkey, 1, ?) = ? OR substr(position_quadkey, 1, ?) = ?)");
      args.push(query.quadkey.length, query.quadkey, query.quadkey.length, query.quadkey);
    }
    const sql = `SELECT *, NULL AS port FROM dataflows INDEXED BY dataflows_active_id WHERE ${where.join(" AND ")}
      ORDER BY id DESC LIMIT ?`;
    return this.#db.query(sql).all(...args, query.limit) as DataflowRow[];
  }

  /** Writes a batch of last-seen and last-media times and media states in one transaction (keep-alives,
   * media and state changes are flushed, not fsynced one by one). */
  touchMany(batch: Iterable<Touch>): void {
    this.#db.transaction(() => {
      for (const [id, lastSeen, lastMedia, state] of batch) this.#q.touch!.run(lastSeen, lastMedia, state, id);
    })();
  }

  /**
   * Marks a dataflow inactive and releases its UDP port: a claim, true only for the call that
   * ended it. With `presentBefore`, only while its stored last presence is older (an expiry).
   */
  endDataflow(id: number, reason: string, now: number, lastSeen: number, lastMedia: number | null = null, presentBefore = Infinity): boolean {
    const { ended, released } = this.#db.transaction(() => {
      const ended = this.#q.endFlow!.run(now, reason, lastSeen, lastMedia, id, presentBefore).changes > 0;
      return { ended, released: ended ? this.#q.deletePort!.all(id) as { port: number }[] : [] };
    })();
    for (const { port } of released) this.#pool.release(port);
    return ended;
  }

  /** Deletes at most `max` dataflows that ended before `endedBefore` (oldest first); returns how many. */
  pruneEnded(endedBefore: number, max: number): number {
    return this.#q.prune!.run(endedBefore, max).changes;
  }

  /** Up to `limit` rows whose position key was never computed (rows from before schema 5). */
  rowsWithoutPosition(limit: number): { id: number; metadata: string }[] {
    return this.#q.noPosition!.all(limit) as { id: number; metadata: string }[];
  }

  /** Stores computed position keys ('' for none) in one transaction. */
  setPositions(batch: Iterable<[id: number, positionQuadkey: string]>): void {
    this.#db.transaction(() => {
      for (const [id, key] of batch) this.#q.setPosition!.run(key, id);
    })();
  }

  /** Stores a new demand lease. */
  insertDemand(d: DemandRow): void {
    this.#q.insertDemand!.run(d.id, d.dataflow_id, d.quadkey, d.data_type, d.ttl_seconds, d.created_at, d.expires_at, d.owner ?? null);
  }

  /** Extends a lease. */
  renewDemand(id: string, ttlSeconds: number, expiresAt: number): void {
    this.#q.renewDemand!.run(ttlSeconds, expiresAt, id);
  }

  /** Removes a lease (deleted or expired). */
  deleteDemand(id: string): boolean {
    return this.#q.deleteDemand!.run(id).changes > 0;
  }

  /** Lease `id`, or undefined. */
  getDemand(id: string): DemandRow | undefined {
    return (this.#q.getDemand!.get(id) as DemandRow | null) ?? undefined;
  }

  /** Every stored lease, live or not yet swept. */
  allDemands(): DemandRow[] {
    return this.#q.allDemands!.all() as DemandRow[];
  }

  /** A one-row write, to learn whether the disk takes writes again after a failure. */
  probe(now: number): void {
    this.#q.probe!.run(String(now));
  }

  /** Ports currently allocated (for tests and metrics). */
  allocatedPorts(): number[] {
    return this.#pool.list();
  }

  /** The open database, for the tables another part keeps in the same store (discovery, proxy/discovery/). */
  get database(): Database {
    return this.#db;
  }

  /** True when the database answers a trivial query. */
  ping(): boolean {
    try {
      this.#db.query("SELECT 1").get();
      return true;
    } catch {
      return false;
    }
  }

  /** Every row of every table as JSON, to prove that bad input changed nothing. */
  dump(): string {
    const tables = ["dataflows", "udp_ports", "demands", "meta"];
    const seq = this.#db.query("SELECT name, seq FROM sqlite_sequence ORDER BY name").all();
    return JSON.stringify({ seq, ...Object.fromEntries(tables.map((t) => [t, this.#db.query(`SELECT * FROM ${t}`).all()])) });
  }

  /** Closes the database (checkpointing the WAL). */
  close(): void {
    this.#db.close();
  }
}
