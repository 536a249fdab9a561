// deno-lint-ignore-file require-await -- bun:sqlite is synchronous; `async` keeps the promise of the
// ReplicaRows interface and turns a thrown error into its rejection.
/**
 * {@link ReplicaRows} on the SQLite store's database (schema 7): one process writes it, so a
 * transaction is the whole claim. Rows of an earlier run of the proxy (another replica id)
 * go stale and are taken over like a dead replica's.
 */
import type { Database } from "bun:sqlite";
import { claimable, type ReplicaIdentity, type ReplicaRow, type ReplicaRows, type SessionClaim, type SessionClaimRequest, type SessionOwnerRow } from "./replica_rows.ts";

/** The SQLite implementation; see the file comment. */
export class SqliteReplicaRows implements ReplicaRows {
  constructor(private readonly db: Database) {}

  async heartbeat(replica: ReplicaIdentity, now: number, live: readonly string[]): Promise<string[]> {
    return this.db.transaction(() => {
      this.db.run(`INSERT INTO replicas (id, public_url, started_at, heartbeat_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, heartbeat_at = excluded.heartbeat_at`,
        [replica.id, replica.publicUrl, now, now]);
      const beat = this.db.prepare("UPDATE whip_owners SET heartbeat_at = ? WHERE replica_id = ? AND session_id = ?");
      for (const sessionId of live) beat.run(now, replica.id, sessionId);
      const owned = this.db.query("SELECT session_id FROM whip_owners WHERE replica_id = ?").all(replica.id) as { session_id: string }[];
      return owned.map((r) => r.session_id);
    })();
  }

  async replicas(): Promise<ReplicaRow[]> {
    return this.db.query("SELECT * FROM replicas ORDER BY started_at, id").all() as ReplicaRow[];
  }

  async expireReplicas(before: number): Promise<string[]> {
    const gone = this.db.query("DELETE FROM replicas WHERE heartbeat_at < ? RETURNING id").all(before) as { id: string }[];
    return gone.map((r) => r.id);
  }

  async removeReplica(id: string): Promise<void> {
    this.db.run("DELETE FROM replicas WHERE id = ?", [id]);
  }

  async claimSession(r: SessionClaimRequest): Promise<SessionClaim> {
    return this.db.transaction((): SessionClaim => {
      const row = this.#owner(r.dataflowId);
      if (row && !claimable(row, r.replica.id, r.staleBefore)) return { won: false, owner: row };
      this.db.run(`INSERT OR REPLACE INTO whip_owners (dataflow_id, replica_id, public_url, session_id, created_at, heartbeat_at)
        VALUES (?, ?, ?, ?, ?, ?)`, [r.dataflowId, r.replica.id, r.replica.publicUrl, r.sessionId, r.now, r.now]);
      return row ? { won: true, previous: row } : { won: true };
    })();
  }

  async restoreSession(dataflowId: number, sessionId: string, previous?: SessionOwnerRow): Promise<void> {
    this.db.transaction(() => {
      const row = this.#owner(dataflowId);
      if (!row || row.session_id !== sessionId) return;
      if (!previous) return void this.db.run("DELETE FROM whip_owners WHERE dataflow_id = ?", [dataflowId]);
      const p = previous;
      this.db.run(`UPDATE whip_owners SET replica_id = ?, public_url = ?, session_id = ?, created_at = ?, heartbeat_at = ?
        WHERE dataflow_id = ?`, [p.replica_id, p.public_url, p.session_id, p.created_at, p.heartbeat_at, dataflowId]);
    })();
  }

  async releaseSession(dataflowId: number, sessionId?: string): Promise<boolean> {
    const result = sessionId === undefined
      ? this.db.run("DELETE FROM whip_owners WHERE dataflow_id = ?", [dataflowId])
      : this.db.run("DELETE FROM whip_owners WHERE dataflow_id = ? AND session_id = ?", [dataflowId, sessionId]);
    return result.changes > 0;
  }

  async sessionOwner(dataflowId: number): Promise<SessionOwnerRow | undefined> {
    return this.#owner(dataflowId);
  }

  async sessionOwners(freshSince: number): Promise<SessionOwnerRow[]> {
    return this.db.query("SELECT * FROM whip_owners WHERE heartbeat_at >= ? ORDER BY dataflow_id").all(freshSince) as SessionOwnerRow[];
  }

  #owner(dataflowId: number): SessionOwnerRow | undefined {
    return (this.db.query("SELECT * FROM whip_owners WHERE dataflow_id = ?").get(dataflowId) as SessionOwnerRow | null) ?? undefined;
  }
}
