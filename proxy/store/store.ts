/**
 * The registration store on bun:sqlite: dataflows, their UDP forward ports and demand
 * leases. Every statement is prepared once; the registry keeps the hot state in memory
 * and writes through here, so a restart finds everything again.
 */
import { Database, type Statement } from "bun:sqlite";
import { MIGRATIONS, PRAGMAS, SCHEMA, SCHEMA_VERSION } from "./schema.ts";

/** One row of `dataflows`, with its UDP port when it holds one. */
export interface DataflowRow {
  id: number;
  metadata: string;
  data_type: string;
  data_sub_type: string;
  quadkey: string;
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

/** What a new dataflow row needs. */
export interface NewDataflow {
  metadata: string;
  dataType: string;
  dataSubType: string;
  quadkey: string;
  tokenHash: string;
  /** The control key handed to the sensor in the registration answer. */
  controlKey: string;
  keepaliveSeconds: number;
  now: number;
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

/** Inclusive range of UDP ports handed to dataflows for the legacy RTP forward. */
export interface PortRange {
  first: number;
  last: number;
}

/** Thrown when every port of the range is taken. */
export class PortsExhaustedError extends Error {
  constructor(range: PortRange) {
    super(`every UDP port of "${range.first}-${range.last}" is allocated`);
    this.name = "PortsExhaustedError";
  }
}

const SELECT_FLOW = `SELECT d.*, p.port AS port FROM dataflows d LEFT JOIN udp_ports p ON p.dataflow_id = d.id`;

/** The SQLite store; one per process. */
export class Store {
  readonly #db: Database;
  readonly #ports: PortRange;
  readonly #used = new Set<number>();
  #cursor: number;
  readonly #q: Record<string, Statement>;

  constructor(path: string, ports: PortRange) {
    this.#db = new Database(path, { create: true, strict: true });
    for (const pragma of PRAGMAS) this.#db.run(pragma);
    this.#db.run("BEGIN");
    const hasMeta = this.#db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== null;
    let version = hasMeta ? this.#version() : SCHEMA_VERSION;
    if (Number.isInteger(version) && version < SCHEMA_VERSION) {
      // An older database: its tables exist; migrate them before CREATE ... IF NOT EXISTS adds new ones.
      for (; version < SCHEMA_VERSION && MIGRATIONS[version]; version++) {
        for (const stmt of MIGRATIONS[version]!) this.#db.run(stmt);
        this.#db.run("UPDATE meta SET value = ? WHERE key = 'schema_version'", [String(version + 1)]);
      }
    }
    for (const stmt of SCHEMA.split(";").map((s) => s.trim()).filter(Boolean)) this.#db.run(stmt);
    this.#db.run("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", [String(SCHEMA_VERSION)]);
    this.#db.run("COMMIT");
    if (this.#version() !== SCHEMA_VERSION) {
      throw new Error(`database "${path}" has schema version "${this.#version()}", expected ${SCHEMA_VERSION}`);
    }
    this.#ports = ports;
    const used = this.#db.query("SELECT port FROM udp_ports ORDER BY port").all() as { port: number }[];
    for (const { port } of used) this.#used.add(port);
    const saved = this.#db.query("SELECT value FROM meta WHERE key = 'port_cursor'").get() as { value: string } | null;
    this.#cursor = saved ? Number(saved.value) : ports.first;
    this.#q = this.#prepare();
  }

  #version(): number {
    const row = this.#db.query("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | null;
    return row ? Number(row.value) : NaN;
  }

  #prepare(): Record<string, Statement> {
    const db = this.#db;
    return {
      insertFlow: db.prepare(`INSERT INTO dataflows (metadata, data_type, data_sub_type, quadkey, token_hash,
        keepalive_seconds, registered_at, last_seen_at, owner, control_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
      insertPort: db.prepare("INSERT INTO udp_ports (port, dataflow_id) VALUES (?, ?)"),
      saveCursor: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('port_cursor', ?)"),
      deletePort: db.prepare("DELETE FROM udp_ports WHERE dataflow_id = ? RETURNING port"),
      getFlow: db.prepare(`${SELECT_FLOW} WHERE d.id = ?`),
      activeFlows: db.prepare(`${SELECT_FLOW} WHERE d.active = 1 ORDER BY d.id`),
      allFlows: db.prepare(`${SELECT_FLOW} ORDER BY d.id`),
      touch: db.prepare("UPDATE dataflows SET last_seen_at = ?, last_media_at = ? WHERE id = ? AND active = 1"),
      setMetadata: db.prepare(`UPDATE dataflows SET metadata = ?, data_type = ?, data_sub_type = ?, quadkey = ?,
        last_seen_at = ? WHERE id = ?`),
      setState: db.prepare("UPDATE dataflows SET state = ? WHERE id = ? AND active = 1"),
      endFlow: db.prepare(`UPDATE dataflows SET active = 0, state = 'expired', ended_at = ?, end_reason = ?,
        last_seen_at = ?, last_media_at = ? WHERE id = ? AND active = 1`),
      insertDemand: db.prepare(`INSERT INTO demands (id, dataflow_id, quadkey, data_type, ttl_seconds, created_at,
        expires_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      renewDemand: db.prepare("UPDATE demands SET ttl_seconds = ?, expires_at = ? WHERE id = ?"),
      deleteDemand: db.prepare("DELETE FROM demands WHERE id = ?"),
      allDemands: db.prepare("SELECT * FROM demands ORDER BY created_at, id"),
    };
  }

  #allocatePort(): number {
    const { first, last } = this.#ports;
    const size = last - first + 1;
    for (let i = 0; i < size; i++) {
      // Round robin from the last allocation: a port just released is reused last, so a
      // legacy pipeline still listening on it does not get another sensor's video at once.
      const candidate = first + ((this.#cursor - first + i) % size + size) % size;
      if (!this.#used.has(candidate)) return candidate;
    }
    throw new PortsExhaustedError(this.#ports);
  }

  /** Inserts a dataflow and, when it forwards, allocates its UDP port in one transaction; returns both. */
  insertDataflow(flow: NewDataflow): { id: number; port: number | null } {
    const port = flow.udpForward ? this.#allocatePort() : null;
    const id = this.#db.transaction(() => {
      const row = this.#q.insertFlow!.get(flow.metadata, flow.dataType, flow.dataSubType, flow.quadkey,
        flow.tokenHash, flow.keepaliveSeconds, flow.now, flow.now, flow.owner ?? null, flow.controlKey) as { id: number };
      if (port !== null) this.#bindPort(port, row.id);
      return row.id;
    })();
    if (port !== null) this.#took(port);
    return { id, port };
  }

  #bindPort(port: number, id: number): void {
    this.#q.insertPort!.run(port, id);
    this.#q.saveCursor!.run(String(port + 1));
  }

  #took(port: number): void {
    this.#used.add(port);
    this.#cursor = port + 1;
  }

  /** Gives active dataflow `id` a UDP forward port (`on`) or releases its port; returns the port it holds now. */
  setUdpForward(id: number, on: boolean): number | null {
    const current = this.getDataflow(id)?.port ?? null;
    if (on && current === null) {
      const port = this.#allocatePort();
      this.#db.transaction(() => this.#bindPort(port, id))();
      this.#took(port);
      return port;
    }
    if (!on && current !== null) {
      for (const { port } of this.#q.deletePort!.all(id) as { port: number }[]) this.#used.delete(port);
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

  /** Every dataflow ever registered, oldest first. */
  allDataflows(): DataflowRow[] {
    return this.#q.allFlows!.all() as DataflowRow[];
  }

  /** Writes a batch of last-seen and last-media times in one transaction (keep-alives and media are
   * flushed, not fsynced one by one). */
  touchMany(batch: Iterable<[id: number, lastSeen: number, lastMedia: number | null]>): void {
    this.#db.transaction(() => {
      for (const [id, lastSeen, lastMedia] of batch) this.#q.touch!.run(lastSeen, lastMedia, id);
    })();
  }

  /** Replaces the metadata (keep-alive with a body). */
  updateMetadata(id: number, flow: Omit<NewDataflow, "tokenHash" | "controlKey" | "keepaliveSeconds" | "udpForward">): void {
    this.#q.setMetadata!.run(flow.metadata, flow.dataType, flow.dataSubType, flow.quadkey, flow.now, id);
  }

  /** Records the media state (`registered`, `idle`, `live`) of an active dataflow. */
  setState(id: number, state: string): void {
    this.#q.setState!.run(state, id);
  }

  /** Marks a dataflow inactive and releases its UDP port. */
  endDataflow(id: number, reason: string, now: number, lastSeen: number, lastMedia: number | null = null): void {
    const released = this.#db.transaction(() => {
      this.#q.endFlow!.run(now, reason, lastSeen, lastMedia, id);
      return this.#q.deletePort!.all(id) as { port: number }[];
    })();
    for (const { port } of released) this.#used.delete(port);
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
  deleteDemand(id: string): void {
    this.#q.deleteDemand!.run(id);
  }

  /** Every stored lease, live or not yet swept. */
  allDemands(): DemandRow[] {
    return this.#q.allDemands!.all() as DemandRow[];
  }

  /** Ports currently allocated (for tests and metrics). */
  allocatedPorts(): number[] {
    return [...this.#used].sort((a, b) => a - b);
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
