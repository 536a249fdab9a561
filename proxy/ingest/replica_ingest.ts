/**
 * The WHIP ingest as one replica of several (issue #13): its heartbeat (proxy/ingest/replica_presence.ts)
 * fed with the sessions of its {@link SessionRegistry}, the ownership of sessions in the store
 * (proxy/ingest/session_ownership.ts) for the WHIP routes, and the hooks between them: a session
 * another replica took over is closed here ("takeover", not announced: the stream goes on
 * there), and the old session of a dead replica taken over here is announced once.
 */
import type { Logger } from "../log.ts";
import type { ReplicaRows, SessionOwnerRow } from "../store/replica_rows.ts";
import { ReplicaPresence } from "./replica_presence.ts";
import { SessionOwnership } from "./session_ownership.ts";
import type { SessionRegistry, SessionSummary } from "./session_registry.ts";

/** Options of {@link replicaIngest}; each field documents its default. */
export interface ReplicaIngestOptions {
  rows: ReplicaRows;
  publicUrl: string;
  log: Logger;
  /** Announces the end of a dead replica's session taken over here. Default nothing. */
  announce?: (old: SessionSummary) => void;
  /** Heartbeat period and lapse, ms. Defaults 500 and 1500 (proxy/ingest/replica_presence.ts). */
  heartbeatMs?: number;
  lapseMs?: number;
  /** Default a random UUID. */
  id?: string;
}

/** The replica side of one ingest: started at once; stop it after the sessions closed. */
export interface ReplicaIngest {
  presence: ReplicaPresence;
  ownership: SessionOwnership;
  stop(): Promise<void>;
}

/** Wires `sessions` to the store as a replica; see the file comment. */
export function replicaIngest(sessions: () => SessionRegistry, options: ReplicaIngestOptions): ReplicaIngest {
  const presence = new ReplicaPresence({
    rows: options.rows, publicUrl: options.publicUrl, log: options.log, id: options.id,
    heartbeatMs: options.heartbeatMs, lapseMs: options.lapseMs,
    sessions: () => sessions().list().map((s) => ({ dataflowId: s.dataflowId, sessionId: s.sessionId, alive: sessions().isAlive(s.dataflowId) })),
    // Another replica claimed the row (this session went silent, or this replica missed beats): it streams there now.
    onLost: (lost) => {
      for (const s of lost) if (!ownership.pending(s.dataflowId)) sessions().end(s.dataflowId, "takeover", s.sessionId);
    },
  });
  const ownership = new SessionOwnership({
    rows: options.rows, presence, log: options.log,
    announce: (old) => options.announce?.(summaryOfRow(old)),
  });
  presence.start();
  return {
    presence, ownership,
    stop: async () => {
      await ownership.flush();
      await presence.stop();
    },
  };
}

/** The session a dead replica owned, as the end announcer reads it (its counters died with it). */
function summaryOfRow(row: SessionOwnerRow): SessionSummary {
  return {
    dataflowId: row.dataflow_id, sessionId: row.session_id, state: "closed", createdAt: row.created_at,
    counters: { packets: 0, bytes: 0, nackedSeqs: 0, nackPackets: 0, plisSent: 0, plisCoalesced: 0, sinkErrors: 0, rtcpSendErrors: 0 },
  };
}
