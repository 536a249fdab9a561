/**
 * {@link ReplicaRows} on PostgreSQL (migration 3), shared by every replica. A claim locks the
 * dataflow's session row (`SELECT … FOR UPDATE`) or inserts it with `ON CONFLICT DO NOTHING`,
 * so two replicas racing for one dataflow are serialized by the row: one wins, the other reads
 * the winner's fresh row and loses. Replica expiry is `DELETE … RETURNING`: each dead replica's
 * row is swept by exactly one replica.
 */
import type postgres from "postgres";
import { claimable, type ReplicaIdentity, type ReplicaRow, type ReplicaRows, type SessionClaim, type SessionClaimRequest, type SessionOwnerRow } from "./replica_rows.ts";

type Sql = postgres.Sql<Record<string, never>>;
type Tx = postgres.TransactionSql<Record<string, never>>;

/** The PostgreSQL implementation; see the file comment. */
export class PgReplicaRows implements ReplicaRows {
  constructor(private readonly sql: Sql) {}

  async heartbeat(replica: ReplicaIdentity, now: number, live: readonly string[]): Promise<string[]> {
    return await this.sql.begin(async (tx) => {
      await tx`INSERT INTO replicas (id, public_url, started_at, heartbeat_at) VALUES (${replica.id}, ${replica.publicUrl}, ${now}, ${now})
        ON CONFLICT (id) DO UPDATE SET public_url = EXCLUDED.public_url, heartbeat_at = EXCLUDED.heartbeat_at`;
      if (live.length > 0) {
        await tx`UPDATE whip_owners SET heartbeat_at = ${now} WHERE replica_id = ${replica.id} AND session_id IN (SELECT jsonb_array_elements_text(${JSON.stringify(live)}::text::jsonb))`;
      }
      const owned = await tx`SELECT session_id FROM whip_owners WHERE replica_id = ${replica.id}`;
      return owned.map((r) => (r as { session_id: string }).session_id);
    }) as string[];
  }

  async replicas(): Promise<ReplicaRow[]> {
    return [...await this.sql`SELECT * FROM replicas ORDER BY started_at, id`] as ReplicaRow[];
  }

  async expireReplicas(before: number): Promise<string[]> {
    return (await this.sql`DELETE FROM replicas WHERE heartbeat_at < ${before} RETURNING id`).map((r) => (r as { id: string }).id);
  }

  async removeReplica(id: string): Promise<void> {
    await this.sql`DELETE FROM replicas WHERE id = ${id}`;
  }

  async claimSession(r: SessionClaimRequest): Promise<SessionClaim> {
    return await this.sql.begin(async (tx) => {
      // Twice at most: a row another replica inserted meanwhile is locked and judged on the second pass.
      for (let pass = 0; pass < 2; pass++) {
        const [row] = await tx`SELECT * FROM whip_owners WHERE dataflow_id = ${r.dataflowId} FOR UPDATE` as unknown as SessionOwnerRow[];
        if (row) {
          if (!claimable(row, r.replica.id, r.staleBefore)) return { won: false, owner: row };
          await tx`UPDATE whip_owners SET replica_id = ${r.replica.id}, public_url = ${r.replica.publicUrl}, session_id = ${r.sessionId},
            created_at = ${r.now}, heartbeat_at = ${r.now} WHERE dataflow_id = ${r.dataflowId}`;
          return { won: true, previous: row };
        }
        if (await insertOwner(tx, r)) return { won: true };
      }
      throw new Error(`the WHIP session row of dataflow "${r.dataflowId}" changed twice during one claim`);
    }) as SessionClaim;
  }

  async restoreSession(dataflowId: number, sessionId: string, previous?: SessionOwnerRow): Promise<void> {
    if (!previous) {
      await this.sql`DELETE FROM whip_owners WHERE dataflow_id = ${dataflowId} AND session_id = ${sessionId}`;
      return;
    }
    const p = previous;
    await this.sql`UPDATE whip_owners SET replica_id = ${p.replica_id}, public_url = ${p.public_url}, session_id = ${p.session_id},
      created_at = ${p.created_at}, heartbeat_at = ${p.heartbeat_at} WHERE dataflow_id = ${dataflowId} AND session_id = ${sessionId}`;
  }

  async releaseSession(dataflowId: number, sessionId?: string): Promise<boolean> {
    const result = sessionId === undefined
      ? await this.sql`DELETE FROM whip_owners WHERE dataflow_id = ${dataflowId}`
      : await this.sql`DELETE FROM whip_owners WHERE dataflow_id = ${dataflowId} AND session_id = ${sessionId}`;
    return result.count > 0;
  }

  async sessionOwner(dataflowId: number): Promise<SessionOwnerRow | undefined> {
    const [row] = await this.sql`SELECT * FROM whip_owners WHERE dataflow_id = ${dataflowId}`;
    return row as SessionOwnerRow | undefined;
  }

  async sessionOwners(freshSince: number): Promise<SessionOwnerRow[]> {
    return [...await this.sql`SELECT * FROM whip_owners WHERE heartbeat_at >= ${freshSince} ORDER BY dataflow_id`] as SessionOwnerRow[];
  }
}

/** Inserts the claimed row unless one exists (waiting for a racing insert to commit); true if inserted. */
async function insertOwner(tx: Tx, r: SessionClaimRequest): Promise<boolean> {
  const inserted = await tx`INSERT INTO whip_owners (dataflow_id, replica_id, public_url, session_id, created_at, heartbeat_at)
    VALUES (${r.dataflowId}, ${r.replica.id}, ${r.replica.publicUrl}, ${r.sessionId}, ${r.now}, ${r.now})
    ON CONFLICT (dataflow_id) DO NOTHING RETURNING dataflow_id`;
  return inserted.count > 0;
}
