/**
 * This proxy process as a replica (issue #13): a row in the store with its `--public-url`,
 * refreshed every `heartbeatMs`, together with the heartbeat of the WHIP sessions it holds
 * alive. Each beat also sweeps the rows of replicas that stopped beating (`DELETE … RETURNING`:
 * one sweeper per dead replica), learns which of its own sessions another replica took over,
 * and caches the fresh session owners for the dataflow list.
 *
 *   every heartbeatMs:  heartbeat(me, live sessions) ─► owned ids ─► onLost(local − owned)
 *                       expireReplicas(now − lapseMs)  sessionOwners(now − lapseMs) ─► owners
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../log.ts";
import type { ReplicaIdentity, ReplicaRows } from "../store/replica_rows.ts";

/** Heartbeat period of a replica and of its sessions, ms. */
export const REPLICA_HEARTBEAT_MS = 500;
/** A replica (or a session) whose heartbeat is older than this is dead: its sessions may be taken over. */
export const REPLICA_LAPSE_MS = 1500;

/** A local session as the beat sees it. */
export interface LocalSession {
  dataflowId: number;
  sessionId: string;
  /** Alive: its heartbeat is refreshed. A silent session's is not, so another replica may take it over. */
  alive: boolean;
}

/** Options of {@link ReplicaPresence}; each field documents its default. */
export interface ReplicaPresenceOptions {
  rows: ReplicaRows;
  publicUrl: string;
  log: Logger;
  /** Default a random UUID: unique per process. */
  id?: string;
  /** Default {@link REPLICA_HEARTBEAT_MS}. */
  heartbeatMs?: number;
  /** Default {@link REPLICA_LAPSE_MS}. */
  lapseMs?: number;
  /** The sessions held here now. Default none. */
  sessions?: () => LocalSession[];
  /** Sessions another replica took over (close them here). Default nothing. */
  onLost?: (lost: LocalSession[]) => void;
  now?: () => number;
}

/** The replica's heartbeat; see the file comment. */
export class ReplicaPresence {
  readonly identity: ReplicaIdentity;
  readonly lapseMs: number;
  /** Counts for metrics: beats that failed (store down), dead replicas this one swept. */
  readonly counts = { heartbeatFailures: 0, replicasExpired: 0 };
  #owners = new Map<number, string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> | undefined;
  readonly #now: () => number;

  constructor(private readonly options: ReplicaPresenceOptions) {
    this.identity = { id: options.id ?? randomUUID(), publicUrl: options.publicUrl };
    this.lapseMs = options.lapseMs ?? REPLICA_LAPSE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Now on the replicas' shared time scale. */
  now(): number {
    return this.#now();
  }

  /** The public URL of the replica owning dataflow `id`'s WHIP session (fresh rows only, as of the last beat). */
  ownerOf(id: number): string | undefined {
    return this.#owners.get(id);
  }

  /** Beats once now and then every `heartbeatMs`. */
  start(): void {
    if (this.#timer) return;
    void this.beat();
    this.#timer = setInterval(() => void this.beat(), this.options.heartbeatMs ?? REPLICA_HEARTBEAT_MS);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** One beat (skipped while the previous one still runs: a slow store must not pile them up). */
  beat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => (this.#beating = undefined));
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const { rows, log } = this.options;
    const local = this.options.sessions?.() ?? [];
    const now = this.#now();
    try {
      const owned = new Set(await rows.heartbeat(this.identity, now, local.filter((s) => s.alive).map((s) => s.sessionId)));
      const lost = local.filter((s) => !owned.has(s.sessionId));
      if (lost.length > 0) {
        log.info("whip sessions taken over by another replica", { sessions: lost.map((s) => ({ dataflowId: s.dataflowId, sessionId: s.sessionId })) });
        this.options.onLost?.(lost);
      }
      for (const id of await rows.expireReplicas(now - this.lapseMs)) {
        this.counts.replicasExpired++;
        log.info("replica expired", { replicaId: id, lapseMs: this.lapseMs });
      }
      this.#owners = new Map((await rows.sessionOwners(now - this.lapseMs)).map((r) => [r.dataflow_id, r.public_url]));
    } catch (error) {
      this.counts.heartbeatFailures++;
      log.warn("replica heartbeat failed", { replicaId: this.identity.id, error });
    }
  }

  /** Stops beating and deletes this replica's row (a clean stop: nobody waits for its lapse). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    await this.options.rows.removeReplica(this.identity.id).catch((error) => this.options.log.warn("replica row not removed", { error }));
  }
}
