// deno-lint-ignore-file require-await -- the SQLite calls are synchronous (bun:sqlite); `async` keeps the
// promise the interface gives, and turns a thrown error into its rejection.
/**
 * The registration store as one asynchronous interface, so that the embedded SQLite store
 * (one process) and the PostgreSQL store (several proxies on one database, issue #13) are two
 * implementations of the same behaviour, checked by one contract test suite
 * (tests/proxy/store_contract_test.ts) run against both.
 *
 * Rows keep the SQLite shape (`active` 1/0, times as ms since the epoch) so that the registry
 * reads either the same way.
 */
import type { DataflowRow, DemandRow, EndedQuery, MetadataUpdate, NewDataflow, Touch } from "./store.ts";
import type { Store } from "./store.ts";
import type { ReplicaRows } from "./replica_rows.ts";
import { SqliteReplicaRows } from "./sqlite_replica_rows.ts";

/** A row another replica changed, to be read again: a dataflow by id, or a lease by id. */
export type StoreChange = { dataflow: number } | { demand: string };

/** What the registry needs from a store; every write is one transaction and throws on failure. */
export interface DataflowStore {
  /** "sqlite" or "postgres", for logs and metrics. */
  readonly kind: "sqlite" | "postgres";
  /** The SQLite store underneath (for other tables on the same file, e.g. discovery's). */
  readonly sqlite?: Store;
  insertDataflow(flow: NewDataflow): Promise<{ id: number; port: number | null }>;
  updateDataflow(id: number, update: MetadataUpdate, udpForward?: boolean): Promise<number | null>;
  getDataflow(id: number): Promise<DataflowRow | undefined>;
  activeDataflows(): Promise<DataflowRow[]>;
  endedDataflows(query: EndedQuery): Promise<DataflowRow[]>;
  touchMany(batch: Iterable<Touch>): Promise<void>;
  /** Ends active dataflow `id`: true only for the call that ended it (a claim; replicas race for
   * expiries). With `presentBefore`, only while its stored last presence is older than that. */
  endDataflow(id: number, reason: string, now: number, lastSeen: number, lastMedia?: number | null, presentBefore?: number): Promise<boolean>;
  pruneEnded(endedBefore: number, max: number): Promise<number>;
  /** Up to `limit` rows whose position key was never computed (rows from before it existed). */
  rowsWithoutPosition(limit: number): Promise<{ id: number; metadata: string }[]>;
  /** Stores computed position keys ('' for none) in one transaction. */
  setPositions(batch: Iterable<[id: number, positionQuadkey: string]>): Promise<void>;
  insertDemand(d: DemandRow): Promise<void>;
  renewDemand(id: string, ttlSeconds: number, expiresAt: number): Promise<void>;
  /** Deletes lease `id`: true only for the call that deleted it (a claim; replicas race for expiries). */
  deleteDemand(id: string): Promise<boolean>;
  allDemands(): Promise<DemandRow[]>;
  getDemand(id: string): Promise<DemandRow | undefined>;
  /**
   * Calls `onChange` for every change another store instance (another replica) made to a dataflow
   * or a lease; resolves with the function that stops listening. Absent: no other writer exists.
   */
  listen?(onChange: (change: StoreChange) => void): Promise<() => Promise<void>>;
  probe(now: number): Promise<void>;
  /** Replicas and the owners of WHIP sessions (issue #13): proxy/store/replica_rows.ts. */
  readonly replicas: ReplicaRows;
  allocatedPorts(): Promise<number[]>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** The SQLite {@link Store} behind the asynchronous interface (its calls stay synchronous inside). */
export function sqliteDataflowStore(store: Store): DataflowStore {
  return {
    kind: "sqlite",
    sqlite: store,
    insertDataflow: async (flow) => store.insertDataflow(flow),
    updateDataflow: async (id, update, udpForward) => store.updateDataflow(id, update, udpForward),
    getDataflow: async (id) => store.getDataflow(id),
    activeDataflows: async () => store.activeDataflows(),
    endedDataflows: async (query) => store.endedDataflows(query),
    touchMany: async (batch) => store.touchMany(batch),
    endDataflow: async (id, reason, now, lastSeen, lastMedia, presentBefore) => store.endDataflow(id, reason, now, lastSeen, lastMedia ?? null, presentBefore),
    pruneEnded: async (before, max) => store.pruneEnded(before, max),
    rowsWithoutPosition: async (limit) => store.rowsWithoutPosition(limit),
    setPositions: async (batch) => store.setPositions(batch),
    insertDemand: async (d) => store.insertDemand(d),
    renewDemand: async (id, ttl, expiresAt) => store.renewDemand(id, ttl, expiresAt),
    deleteDemand: async (id) => store.deleteDemand(id),
    allDemands: async () => store.allDemands(),
    getDemand: async (id) => store.getDemand(id),
    probe: async (now) => store.probe(now),
    replicas: new SqliteReplicaRows(store.database),
    allocatedPorts: async () => store.allocatedPorts(),
    ping: async () => store.ping(),
    close: async () => store.close(),
  };
}
