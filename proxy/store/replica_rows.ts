/**
 * Replicas and the owners of WHIP sessions (issue #13, "several proxies, one truth"), the part
 * of the registration store that says which proxy process is alive and which one holds a
 * dataflow's WHIP session:
 *
 *   replicas     id (one per process) · public_url · started_at · heartbeat_at
 *   whip_owners  dataflow_id · replica_id · public_url · session_id · created_at · heartbeat_at
 *
 * A replica upserts its row and the heartbeat of the sessions it holds alive every beat
 * (proxy/ingest/replica_presence.ts). A session row whose heartbeat is older than the lapse
 * may be claimed by another replica: the claim is one conditional write, so of two replicas
 * racing for it exactly one wins. Times are ms since the epoch from the replicas' own clocks
 * (hosts are assumed NTP-synced: skew eats into the lapse). Both stores implement the same
 * {@link ReplicaRows}; tests/proxy/store_contract_test.ts runs the same cases against both.
 */

/** One proxy process as the store knows it. */
export interface ReplicaRow {
  id: string;
  public_url: string;
  started_at: number;
  heartbeat_at: number;
}

/** The owner of one dataflow's WHIP session. */
export interface SessionOwnerRow {
  dataflow_id: number;
  replica_id: string;
  /** The owner's `--public-url` (kept here so that a 409 or 307 names it without a join). */
  public_url: string;
  session_id: string;
  created_at: number;
  heartbeat_at: number;
}

/** A replica's identity in the store. */
export interface ReplicaIdentity {
  id: string;
  publicUrl: string;
}

/** What a replica asks for when a WHIP push arrives. */
export interface SessionClaimRequest {
  dataflowId: number;
  replica: ReplicaIdentity;
  sessionId: string;
  now: number;
  /** Rows of other replicas whose heartbeat is older than this are stale: claimable. */
  staleBefore: number;
}

/**
 * The claim's outcome: won (with the row it replaced, if any: its own older session, or a stale
 * one of another replica), or lost to the fresh row of another replica.
 */
export type SessionClaim = { won: true; previous?: SessionOwnerRow } | { won: false; owner: SessionOwnerRow };

/** Replica and session-owner rows; every method is one transaction. */
export interface ReplicaRows {
  /**
   * Upserts `replica`'s row with heartbeat `now`, refreshes the heartbeat of its session rows
   * named in `live`, and returns the ids of every session row it owns now (a session missing
   * there was taken over by another replica).
   */
  heartbeat(replica: ReplicaIdentity, now: number, live: readonly string[]): Promise<string[]>;
  /** Every replica row, oldest first. */
  replicas(): Promise<ReplicaRow[]>;
  /** Deletes the replica rows whose heartbeat is older than `before`; each id goes to exactly one caller. */
  expireReplicas(before: number): Promise<string[]>;
  /** Deletes replica `id`'s row (a clean stop). */
  removeReplica(id: string): Promise<void>;
  /** The conditional claim of a dataflow's session row; see {@link SessionClaim}. */
  claimSession(request: SessionClaimRequest): Promise<SessionClaim>;
  /**
   * Undoes a claim whose session did not start: while the row still names `sessionId`, puts
   * `previous` back (or deletes the row when there was none).
   */
  restoreSession(dataflowId: number, sessionId: string, previous?: SessionOwnerRow): Promise<void>;
  /** Deletes the session row of `dataflowId` (only while it names `sessionId`, when given); true if one went. */
  releaseSession(dataflowId: number, sessionId?: string): Promise<boolean>;
  /** The session row of `dataflowId`, fresh or not. */
  sessionOwner(dataflowId: number): Promise<SessionOwnerRow | undefined>;
  /** The session rows whose heartbeat is at or after `freshSince`, by dataflow id. */
  sessionOwners(freshSince: number): Promise<SessionOwnerRow[]>;
}

/** Whether `row` may be taken by `replicaId`: its own, or another replica's that went stale. */
export function claimable(row: SessionOwnerRow, replicaId: string, staleBefore: number): boolean {
  return row.replica_id === replicaId || row.heartbeat_at < staleBefore;
}
