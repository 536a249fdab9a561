/**
 * The registration store on PostgreSQL (issue #13: several proxies, one truth), with the
 * `postgres` driver (porsager/postgres): a connection pool, transactions that hand their scoped
 * connection to a callback, LISTEN/NOTIFY on a dedicated connection (what replicas need to hear
 * each other's changes), and no native code. Bun's built-in SQL client pools too, but has no
 * LISTEN. Behaviour is that of the SQLite store (proxy/store/store.ts); the contract suite in
 * tests/proxy/store_contract_test.ts runs against both.
 *
 * Several proxies may share the database: ids come from an identity column (never reused),
 * a UDP forward port is chosen under an advisory transaction lock (no two dataflows get one
 * port, whichever replica registers them), and migrations run once under an advisory lock.
 */
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { PortsExhaustedError, type PortRange } from "./port_pool.ts";
import { MIGRATION_LOCK, PG_MIGRATIONS, PG_SCHEMA_VERSION, PORT_LOCK } from "./pg_schema.ts";
import type { DataflowStore, StoreChange } from "./store_api.ts";
import { PgReplicaRows } from "./pg_replica_rows.ts";
import type { DataflowRow, DemandRow, EndedQuery, MetadataUpdate, NewDataflow, Touch } from "./store.ts";

type Sql = postgres.Sql<Record<string, never>>;
type Tx = postgres.TransactionSql<Record<string, never>>;

/** Options of {@link PgStore.open}. */
export interface PgStoreOptions {
  /** Connections in the pool; default 10. */
  max?: number;
  /** Password when the URL has none (from a file or the environment); never logged. */
  password?: string;
  /** Seconds to wait for a connection before a query fails; default 5. */
  connectTimeoutSeconds?: number;
}

/** The LISTEN/NOTIFY channel on which replicas say which rows they changed. */
export const CHANGES_CHANNEL = "vsb_changes";

/** A notification: the writing store's `o`rigin and the changed row (a `d`ataflow id or a `l`ease id). */
type Notice = { o: string; d?: number; l?: string };

const SELECT_FLOW = `SELECT d.*, p.port AS port FROM dataflows d LEFT JOIN udp_ports p ON p.dataflow_id = d.id`;

/** ms timestamps and ids are bigint in PostgreSQL; every one fits a Number exactly. */
const BIGINT_AS_NUMBER = { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) };

/** The PostgreSQL store; one pool per process. */
export class PgStore implements DataflowStore {
  readonly kind = "postgres" as const;
  /** Told apart from other replicas' notifications: a store ignores its own. */
  readonly origin = randomUUID();

  /** Replicas and the owners of WHIP sessions, on the same pool. */
  readonly replicas: PgReplicaRows;

  private constructor(readonly sql: Sql, private readonly ports: PortRange) {
    this.replicas = new PgReplicaRows(sql);
  }

  /** Connects, migrates (once across replicas) and checks the schema version; throws when it cannot. */
  static async open(url: string, ports: PortRange, options: PgStoreOptions = {}): Promise<PgStore> {
    const sql = postgres(url, {
      max: options.max ?? 10,
      password: options.password,
      connect_timeout: options.connectTimeoutSeconds ?? 5,
      onnotice: () => undefined,
      types: { bigint: BIGINT_AS_NUMBER },
    }) as unknown as Sql;
    try {
      await migrate(sql);
      return new PgStore(sql, ports);
    } catch (error) {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      throw error;
    }
  }

  /** Queues a notification of the change in `tx`: delivered to the listeners only if it commits. */
  async #notify(tx: Tx, change: StoreChange): Promise<void> {
    const notice: Notice = "dataflow" in change ? { o: this.origin, d: change.dataflow } : { o: this.origin, l: change.demand };
    await tx`SELECT pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify(notice)})`;
  }

  /** Listens on a dedicated connection (the driver re-listens after a reconnect); ignores its own notices. */
  async listen(onChange: (change: StoreChange) => void): Promise<() => Promise<void>> {
    const { unlisten } = await this.sql.listen(CHANGES_CHANNEL, (payload) => {
      let notice: Notice;
      try {
        notice = JSON.parse(payload) as Notice;
      } catch {
        return; // not ours
      }
      if (notice.o === this.origin) return;
      if (typeof notice.d === "number") onChange({ dataflow: notice.d });
      else if (typeof notice.l === "string") onChange({ demand: notice.l });
    });
    return unlisten;
  }

  async insertDataflow(flow: NewDataflow): Promise<{ id: number; port: number | null }> {
    return await this.sql.begin(async (tx) => {
      const [row] = await tx`INSERT INTO dataflows (metadata, data_type, data_sub_type, quadkey, position_quadkey,
        token_hash, keepalive_seconds, registered_at, last_seen_at, owner, control_key)
        VALUES (${flow.metadata}, ${flow.dataType}, ${flow.dataSubType}, ${flow.quadkey}, ${flow.positionQuadkey},
        ${flow.tokenHash}, ${flow.keepaliveSeconds}, ${flow.now}, ${flow.now}, ${flow.owner ?? null}, ${flow.controlKey})
        RETURNING id`;
      const id = (row as { id: number }).id;
      const port = flow.udpForward ? await this.#takePort(tx, id) : null;
      await this.#notify(tx, { dataflow: id });
      return { id, port };
    }) as { id: number; port: number | null };
  }

  /**
   * Chooses and binds the next free port round robin from the cursor (a port just released is
   * reused last, as in SQLite), under an advisory lock held until the transaction ends.
   */
  async #takePort(tx: Tx, id: number): Promise<number> {
    const { first, last } = this.ports;
    await tx`SELECT pg_advisory_xact_lock(${PORT_LOCK})`;
    const [saved] = await tx`SELECT value FROM meta WHERE key = 'port_cursor'`;
    const cursor = saved ? Number((saved as { value: string }).value) : first;
    const [free] = await tx`SELECT p::int AS port FROM generate_series(${first}::int, ${last}::int) AS p
      WHERE NOT EXISTS (SELECT 1 FROM udp_ports u WHERE u.port = p)
      ORDER BY (p < ${cursor}::int), p LIMIT 1`;
    if (!free) throw new PortsExhaustedError(this.ports);
    const port = (free as { port: number }).port;
    await tx`INSERT INTO udp_ports (port, dataflow_id) VALUES (${port}, ${id})`;
    await tx`INSERT INTO meta (key, value) VALUES ('port_cursor', ${String(port + 1)})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
    return port;
  }

  async updateDataflow(id: number, update: MetadataUpdate, udpForward?: boolean): Promise<number | null> {
    return await this.sql.begin(async (tx) => {
      await tx`UPDATE dataflows SET metadata = ${update.metadata}, data_type = ${update.dataType},
        data_sub_type = ${update.dataSubType}, quadkey = ${update.quadkey}, position_quadkey = ${update.positionQuadkey},
        last_seen_at = ${update.now} WHERE id = ${id} AND active = 1`;
      const [held] = await tx`SELECT port FROM udp_ports WHERE dataflow_id = ${id}`;
      const current = held ? (held as { port: number }).port : null;
      await this.#notify(tx, { dataflow: id });
      if (udpForward === true && current === null) return await this.#takePort(tx, id);
      if (udpForward === false && current !== null) {
        await tx`DELETE FROM udp_ports WHERE dataflow_id = ${id}`;
        return null;
      }
      return current;
    }) as number | null;
  }

  async getDataflow(id: number): Promise<DataflowRow | undefined> {
    const [row] = await this.sql.unsafe(`${SELECT_FLOW} WHERE d.id = $1`, [id]);
    return row as unknown as DataflowRow | undefined;
  }

  async activeDataflows(): Promise<DataflowRow[]> {
    return [...await this.sql.unsafe(`${SELECT_FLOW} WHERE d.active = 1 ORDER BY d.id`)] as unknown as DataflowRow[];
  }

  /** A page of ended dataflows, newest first, walking the (active, id) index backwards. */
  async endedDataflows(query: EndedQuery): Promise<DataflowRow[]> {
    const where = ["active = 0"];
    const args: (string | number)[] = [];
    const arg = (value: string | number) => {
      args.push(value);
      return `$${args.length}`;
    };
    if (query.beforeId !== undefined) where.push(`id < ${arg(query.beforeId)}`);
    if (query.dataType !== undefined) where.push(`data_type = ${arg(query.dataType)}`);
    if (query.quadkey) {
      const n = arg(query.quadkey.length);
      const q = arg(query.quadkey);
      where.push(`(left(quadkey, ${n}::int) = ${q} OR left(position_quadkey, ${n}::int) = ${q})`);
    }
    const sql = `SELECT *, NULL::int AS port FROM dataflows WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ${arg(query.limit)}`;
    return [...await this.sql.unsafe(sql, args)] as unknown as DataflowRow[];
  }

  /** One UPDATE … FROM (VALUES …) for the whole batch. */
  async touchMany(batch: Iterable<Touch>): Promise<void> {
    const rows = [...batch].map(([id, lastSeen, lastMedia, state]) => [id, lastSeen, lastMedia, state]);
    if (rows.length === 0) return;
    await this.sql`UPDATE dataflows d SET last_seen_at = v.last_seen::bigint, last_media_at = v.last_media::bigint, state = v.state
      FROM (VALUES ${this.sql(rows as never)}) AS v (id, last_seen, last_media, state)
      WHERE d.id = v.id::bigint AND d.active = 1`;
  }

  /** A row claim: of replicas racing to expire one dataflow, exactly one gets true. */
  async endDataflow(id: number, reason: string, now: number, lastSeen: number, lastMedia: number | null = null, presentBefore?: number): Promise<boolean> {
    return await this.sql.begin(async (tx) => {
      const ended = await tx`UPDATE dataflows SET active = 0, state = 'expired', ended_at = ${now}, end_reason = ${reason},
        last_seen_at = ${lastSeen}, last_media_at = ${lastMedia} WHERE id = ${id} AND active = 1
        AND greatest(last_seen_at, coalesce(last_media_at, 0)) < ${presentBefore ?? Number.MAX_SAFE_INTEGER} RETURNING id`;
      if (ended.count === 0) return false;
      await tx`DELETE FROM udp_ports WHERE dataflow_id = ${id}`;
      await this.#notify(tx, { dataflow: id });
      return true;
    }) as boolean;
  }

  async pruneEnded(endedBefore: number, max: number): Promise<number> {
    const result = await this.sql`DELETE FROM dataflows WHERE id IN
      (SELECT id FROM dataflows WHERE active = 0 AND ended_at < ${endedBefore} ORDER BY ended_at LIMIT ${max})`;
    return result.count;
  }

  async rowsWithoutPosition(limit: number): Promise<{ id: number; metadata: string }[]> {
    return [...await this.sql`SELECT id, metadata FROM dataflows WHERE position_quadkey IS NULL LIMIT ${limit}`] as { id: number; metadata: string }[];
  }

  async setPositions(batch: Iterable<[id: number, positionQuadkey: string]>): Promise<void> {
    const rows = [...batch];
    if (rows.length === 0) return;
    await this.sql`UPDATE dataflows d SET position_quadkey = v.key FROM (VALUES ${this.sql(rows as never)}) AS v (id, key)
      WHERE d.id = v.id::bigint`;
  }

  async insertDemand(d: DemandRow): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`INSERT INTO demands (id, dataflow_id, quadkey, data_type, ttl_seconds, created_at, expires_at, owner)
        VALUES (${d.id}, ${d.dataflow_id}, ${d.quadkey}, ${d.data_type}, ${d.ttl_seconds}, ${d.created_at}, ${d.expires_at}, ${d.owner ?? null})`;
      await this.#notify(tx, { demand: d.id });
    });
  }

  async renewDemand(id: string, ttlSeconds: number, expiresAt: number): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`UPDATE demands SET ttl_seconds = ${ttlSeconds}, expires_at = ${expiresAt} WHERE id = ${id}`;
      await this.#notify(tx, { demand: id });
    });
  }

  async deleteDemand(id: string): Promise<boolean> {
    return await this.sql.begin(async (tx) => {
      const deleted = await tx`DELETE FROM demands WHERE id = ${id} RETURNING id`;
      if (deleted.count === 0) return false;
      await this.#notify(tx, { demand: id });
      return true;
    }) as boolean;
  }

  async getDemand(id: string): Promise<DemandRow | undefined> {
    const [row] = await this.sql`SELECT * FROM demands WHERE id = ${id}`;
    return row as DemandRow | undefined;
  }

  async allDemands(): Promise<DemandRow[]> {
    return [...await this.sql`SELECT * FROM demands ORDER BY created_at, id`] as DemandRow[];
  }

  async probe(now: number): Promise<void> {
    await this.sql`INSERT INTO meta (key, value) VALUES ('probed_at', ${String(now)})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
  }

  async allocatedPorts(): Promise<number[]> {
    return (await this.sql`SELECT port FROM udp_ports ORDER BY port`).map((r) => (r as { port: number }).port);
  }

  async ping(): Promise<boolean> {
    try {
      await this.sql`SELECT 1`;
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }
}

/** Applies the missing migrations, each in its own transaction, under an advisory lock. */
async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS vsb_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const [row] = await tx`SELECT coalesce(max(version), 0)::int AS version FROM vsb_migrations`;
    const version = (row as { version: number }).version;
    if (version > PG_SCHEMA_VERSION) {
      throw new Error(`the database has schema version "${version}", this proxy knows up to ${PG_SCHEMA_VERSION}`);
    }
    for (let v = version; v < PG_SCHEMA_VERSION; v++) {
      await tx.savepoint(async (sp) => {
        for (const statement of PG_MIGRATIONS[v]!) await sp.unsafe(statement);
        await sp`INSERT INTO vsb_migrations (version) VALUES (${v + 1})`;
      });
    }
    // A real write at open, as SQLite's: a read-only database stops the start here.
    await tx`INSERT INTO meta (key, value) VALUES ('opened_at', ${String(Date.now())})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
  });
}
