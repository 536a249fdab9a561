/**
 * Who owns a dataflow's WHIP session when several proxies share one store (issue #13). A push
 * claims the dataflow's session row before its session starts here:
 *
 *   POST /whip/{id} ─► claim(id, new session) ─ lost: fresh row of replica X ─► 409 naming X
 *                                              └ won ─► session opens ─ fails ─► restore the row
 *                                                                     └ starts ─► took it from a
 *                                                                        dead replica? announce
 *                                                                        the old session's end
 *
 * The row is the claim: of two replicas racing, one wins (proxy/store/replica_rows.ts). Only
 * the winner that replaced another replica's stale row announces that old session's end, so
 * the bus carries exactly one `terminatedataflow` for it. DELETE/PATCH for a session owned
 * elsewhere are redirected there (see `redirectFor`).
 */
import type { Logger } from "../log.ts";
import type { ReplicaRows, SessionClaim, SessionOwnerRow } from "../store/replica_rows.ts";
import type { ReplicaPresence } from "./replica_presence.ts";

/** Options of {@link SessionOwnership}. */
export interface SessionOwnershipOptions {
  rows: ReplicaRows;
  presence: ReplicaPresence;
  log: Logger;
  /** Announces the end of `old`, the session of a dead replica this one took over. Default nothing. */
  announce?: (old: SessionOwnerRow) => void;
}

/** The claims of this replica; see the file comment. */
export class SessionOwnership {
  /** Counts for metrics: pushes refused because another replica owns the session, takeovers from dead replicas. */
  readonly counts = { conflicts: 0, takeovers: 0 };
  /** Dataflows with a claim in flight here: a beat in between must not take their session for lost. */
  readonly #pending = new Map<number, number>();
  /** Row releases in flight (awaited by `flush()` before the store closes). */
  readonly #releases = new Set<Promise<unknown>>();

  constructor(private readonly options: SessionOwnershipOptions) {}

  /** This replica's public URL (the base of the `Location` it answers). */
  get publicUrl(): string {
    return this.options.presence.identity.publicUrl;
  }

  /** Whether a claim for `dataflowId` is in flight here. */
  pending(dataflowId: number): boolean {
    return this.#pending.has(dataflowId);
  }

  /** Claims dataflow `dataflowId`'s session row for `sessionId`; pair a won claim with `settle()`. */
  async claim(dataflowId: number, sessionId: string): Promise<SessionClaim> {
    const { presence } = this.options;
    const now = presence.now();
    this.#pending.set(dataflowId, (this.#pending.get(dataflowId) ?? 0) + 1);
    try {
      const claim = await this.options.rows.claimSession({ dataflowId, replica: presence.identity, sessionId, now, staleBefore: now - presence.lapseMs });
      if (!claim.won) {
        this.counts.conflicts++;
        this.#done(dataflowId);
      }
      return claim;
    } catch (error) {
      this.#done(dataflowId);
      throw error;
    }
  }

  /** A won claim's session started (or not: the row is put back as it was). */
  async settle(dataflowId: number, sessionId: string, claim: SessionClaim & { won: true }, started: boolean): Promise<void> {
    try {
      if (!started) return await this.options.rows.restoreSession(dataflowId, sessionId, claim.previous);
      const old = claim.previous;
      if (old && old.replica_id !== this.options.presence.identity.id) {
        this.counts.takeovers++;
        this.options.log.info("whip session taken over from a lapsed replica", {
          dataflowId, sessionId, oldSessionId: old.session_id, oldReplica: old.public_url, lapsedForMs: this.options.presence.now() - old.heartbeat_at,
        });
        this.options.announce?.(old);
      }
    } finally {
      this.#done(dataflowId);
    }
  }

  /** Session `sessionId` of `dataflowId` ended here: its row goes (unless another session holds it now). */
  ended(dataflowId: number, sessionId: string): void {
    this.#release(dataflowId, sessionId);
  }

  /** Dataflow `dataflowId` ended: its session row goes, whoever held it. */
  dataflowEnded(dataflowId: number): void {
    this.#release(dataflowId);
  }

  /** Waits for the row releases in flight. */
  async flush(): Promise<void> {
    await Promise.all([...this.#releases]);
  }

  #release(dataflowId: number, sessionId?: string): void {
    const done: Promise<unknown> = this.options.rows.releaseSession(dataflowId, sessionId)
      .catch((error) => this.options.log.warn("whip session row not released", { dataflowId, sessionId, error }))
      .finally(() => this.#releases.delete(done));
    this.#releases.add(done);
  }

  /**
   * The owner's URL for DELETE/PATCH of session `sessionId` when another, live replica holds it
   * (undefined: not known anywhere alive, answer here). A 307 rather than forwarding: the client
   * already got the owner's absolute `Location` from its POST, so only a client that lost it (or
   * a load balancer that routed it here) meets this; redirecting keeps this replica out of
   * another's session, cannot loop, and RFC 9725 §4.5 lets WHIP endpoints redirect.
   */
  async redirectFor(dataflowId: number, sessionId: string): Promise<string | undefined> {
    const { presence } = this.options;
    const row = await this.options.rows.sessionOwner(dataflowId);
    if (!row || row.session_id !== sessionId || row.replica_id === presence.identity.id) return undefined;
    return row.heartbeat_at >= presence.now() - presence.lapseMs ? row.public_url : undefined;
  }

  #done(dataflowId: number): void {
    const n = (this.#pending.get(dataflowId) ?? 1) - 1;
    if (n > 0) this.#pending.set(dataflowId, n);
    else this.#pending.delete(dataflowId);
  }
}
