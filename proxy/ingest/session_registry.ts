/**
 * The live WHIP sessions, at most one per dataflow. A second push while the first is really
 * alive is refused (409); a push for a dataflow whose session has been silent for
 * `takeoverAfterMs` (publisher died without DELETE) or whose ICE failed replaces it. One timer
 * ends sessions that never connect or whose media stops for `mediaTimeoutMs`.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../log.ts";
import type { H264Choice } from "../webrtc/h264_offer.ts";
import type { SessionEndReason, SinkFactory } from "./ingest_types.ts";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";
import { type SessionCounters, type SessionState, WhipSession } from "./whip_session.ts";

/** A dataflow already has a live session (HTTP 409). */
export class SessionConflictError extends Error {
  constructor(readonly dataflowId: number, readonly silentForMs: number) {
    super(`dataflow ${dataflowId} already has a live WHIP session (media ${silentForMs} ms ago)`);
    this.name = "SessionConflictError";
  }
}

/** What listeners learn about a session. */
export interface SessionSummary {
  dataflowId: number;
  sessionId: string;
  state: SessionState;
  createdAt: number;
  lastPacketAt?: number;
  counters: SessionCounters;
}

/** Options of {@link SessionRegistry}; each field documents its default. */
export interface RegistryOptions {
  ice: IngestIceOptions;
  sinks: SinkFactory;
  log: Logger;
  /** A silent session may be taken over after this long. Default 2000 ms (issue 5). */
  takeoverAfterMs?: number;
  /** A session with no RTP for this long ends with "media-timeout". Default 15000 ms, so a
   * restarting capture (agent restarts gst within ~5 s) keeps its session. */
  mediaTimeoutMs?: number;
  /** A session not connected after this long ends with "ice-failed". Default 10000 ms. */
  connectTimeoutMs?: number;
  /** How often timeouts are checked. Default 500 ms. */
  checkIntervalMs?: number;
  /** How often sinks are polled (when their `wakeAtMs` is due). Default 20 ms. */
  pollIntervalMs?: number;
  /** A session was answered (201). */
  onStart?: (session: SessionSummary) => void;
  /** A session ended, with why. */
  onEnd?: (session: SessionSummary, reason: SessionEndReason) => void;
  /** Each check (every `checkIntervalMs`): dataflow `dataflowId`'s last RTP packet arrived at `at`. */
  onMedia?: (dataflowId: number, at: number) => void;
  now?: () => number;
}

function summary(s: WhipSession): SessionSummary {
  return {
    dataflowId: s.dataflowId, sessionId: s.sessionId, state: s.state, createdAt: s.createdAt,
    lastPacketAt: s.lastPacketAt, counters: { ...s.counters },
  };
}

/** Owns every WHIP session of the proxy. */
export class SessionRegistry {
  private readonly sessions = new Map<number, WhipSession>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly pollTimer: ReturnType<typeof setInterval>;
  private readonly now: () => number;
  private readonly takeoverAfterMs: number;
  private readonly mediaTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  /** Sessions ended, by reason (for metrics). */
  readonly ended: Record<SessionEndReason, number> = {
    delete: 0, "ice-failed": 0, "media-timeout": 0, "dataflow-expired": 0, takeover: 0, shutdown: 0, "replica-lost": 0,
  };
  /** Pushes refused with 409. */
  conflicts = 0;
  /** Counters of sessions that ended, summed. */
  private readonly retired: SessionCounters = {
    packets: 0, bytes: 0, nackedSeqs: 0, nackPackets: 0, plisSent: 0, plisCoalesced: 0, sinkErrors: 0, rtcpSendErrors: 0,
  };

  constructor(private readonly options: RegistryOptions) {
    this.now = options.now ?? Date.now;
    this.takeoverAfterMs = options.takeoverAfterMs ?? 2_000;
    this.mediaTimeoutMs = options.mediaTimeoutMs ?? 15_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.timer = setInterval(() => this.check(), options.checkIntervalMs ?? 500);
    (this.timer as { unref?: () => void }).unref?.();
    this.pollTimer = setInterval(() => {
      const now = this.now();
      for (const session of this.sessions.values()) session.poll(now);
    }, options.pollIntervalMs ?? 20);
    (this.pollTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Opens a session for `dataflowId` with an offer already narrowed by `chooseH264`, under
   * `sessionId` (default a new UUID; the ingest gives the one it claimed in the store).
   * Throws {@link SessionConflictError} while another session is alive.
   */
  async open(dataflowId: number, choice: H264Choice, sessionId: string = randomUUID()): Promise<{ sessionId: string; answer: string }> {
    const conflict = this.conflictOf(dataflowId);
    if (conflict) {
      this.conflicts++;
      throw conflict;
    }
    const old = this.sessions.get(dataflowId);
    if (old) {
      const silent = old.silentForMs(this.now());
      this.options.log.info("whip session taken over", { dataflowId, oldSessionId: old.sessionId, silentForMs: silent });
      old.close("takeover");
    }
    const session = WhipSession.reserve({
      dataflowId,
      sessionId,
      ice: this.options.ice,
      sinks: this.options.sinks,
      log: this.options.log,
      now: this.now,
      onEnd: (s, reason) => this.onEnd(s, reason),
    });
    this.sessions.set(dataflowId, session);
    try {
      const answer = await session.negotiate(choice);
      this.options.log.info("whip session started", { dataflowId, sessionId: session.sessionId });
      this.options.onStart?.(summary(session));
      return { sessionId: session.sessionId, answer };
    } catch (error) {
      if (this.sessions.get(dataflowId) === session) this.sessions.delete(dataflowId);
      // Negotiation may have got as far as a werift peer (and a sink), or the start hook threw
      // after it: close them, or each failed push leaves a peer holding its ports.
      session.abort();
      this.options.log.warn("whip negotiation failed", { dataflowId, error });
      throw error;
    }
  }

  /** The conflict a push for `dataflowId` would meet here now (its session is alive), or undefined. */
  conflictOf(dataflowId: number): SessionConflictError | undefined {
    const old = this.sessions.get(dataflowId);
    if (!old) return undefined;
    const silent = old.silentForMs(this.now());
    return old.state !== "closed" && silent < this.takeoverAfterMs ? new SessionConflictError(dataflowId, silent) : undefined;
  }

  /** Whether the session of `dataflowId` is alive: not closed, and not silent for `takeoverAfterMs`. */
  isAlive(dataflowId: number): boolean {
    return this.conflictOf(dataflowId) !== undefined;
  }

  private onEnd(session: WhipSession, reason: SessionEndReason): void {
    if (this.sessions.get(session.dataflowId) === session) this.sessions.delete(session.dataflowId);
    this.ended[reason]++;
    for (const key of Object.keys(this.retired) as (keyof SessionCounters)[]) this.retired[key] += session.counters[key];
    this.options.onEnd?.(summary(session), reason);
  }

  /** Ends the session of `dataflowId` (only if it is `sessionId`, when given). False if none. */
  end(dataflowId: number, reason: SessionEndReason, sessionId?: string): boolean {
    const session = this.sessions.get(dataflowId);
    if (!session || (sessionId !== undefined && session.sessionId !== sessionId)) return false;
    session.close(reason);
    return true;
  }

  /** Asks the publisher of `dataflowId` for a keyframe (a consumer or viewer joined). */
  requestKeyframe(dataflowId: number): boolean {
    return this.sessions.get(dataflowId)?.requestKeyframe() ?? false;
  }

  /** The session of `dataflowId`, if any. */
  get(dataflowId: number): SessionSummary | undefined {
    const session = this.sessions.get(dataflowId);
    return session ? summary(session) : undefined;
  }

  /** Every current session. */
  list(): SessionSummary[] {
    return [...this.sessions.values()].map(summary);
  }

  /** Counters of every session since start (ended and current), summed. */
  totals(): SessionCounters {
    const out = { ...this.retired };
    for (const session of this.sessions.values()) {
      for (const key of Object.keys(out) as (keyof SessionCounters)[]) out[key] += session.counters[key];
    }
    return out;
  }

  /** Reports each session's last media, and ends sessions that never connected or went silent. */
  check(now = this.now()): void {
    for (const session of [...this.sessions.values()]) {
      if (session.state === "closed") continue;
      if (session.lastPacketAt !== undefined) this.options.onMedia?.(session.dataflowId, session.lastPacketAt);
      const silent = session.silentForMs(now);
      if (!session.connected && session.lastPacketAt === undefined && silent >= this.connectTimeoutMs) {
        session.close("ice-failed");
      } else if (silent >= this.mediaTimeoutMs) {
        session.close("media-timeout");
      }
    }
  }

  /** Ends every session and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    clearInterval(this.pollTimer);
    for (const session of [...this.sessions.values()]) session.close("shutdown");
  }
}
