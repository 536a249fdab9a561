/**
 * Makes sure consumers see exactly one `terminatedataflow` per WHIP session that ends on its
 * own (DELETE, ICE failure, media timeout). The agent announces its end itself over MQTT
 * (5GMETA step 9, or its last will), usually at the moment it sends DELETE, so the proxy waits
 * `graceMs` after the session ended and publishes one only if no `terminatedataflow` for that
 * dataflow was heard since the session began. Its own announcements carry a message-id naming
 * the session, so one made for an earlier session does not count as the end of a later one.
 *
 *   session ends ──graceMs──► heard one since the session began? ── yes ─► nothing
 *                                                                └─ no ──► publish one
 */
import { TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import type { Announcer } from "../bus/announcer.ts";
import type { Logger } from "../log.ts";
import type { DataflowMetadata } from "../../shared/mod.ts";
import type { SessionEndReason } from "./ingest_types.ts";
import type { SessionSummary } from "./session_registry.ts";

/** Message-id prefix of the `terminatedataflow`s this proxy publishes for a session's end. */
export const SESSION_END_MESSAGE_ID = "vsb-proxy-session-end:";

/** What was heard on the bus (proxy/outputs/dataflow_events.ts implements it). */
export interface EndsHeard {
  /** The `terminatedataflow`s heard for `id` at or after `sinceMs`, with their message-ids. */
  terminationsSince(id: number, sinceMs: number): { messageId?: string }[];
}

/** Options of {@link SessionEndAnnouncer}; each field documents its default. */
export interface SessionEndAnnouncerOptions {
  announcer: Pick<Announcer, "dataflowEvent">;
  /** The dataflow's metadata now (undefined once it ended: the registry announces that end). */
  metadataOf: (id: number) => DataflowMetadata | undefined;
  /** What the bus said; without it every end is announced at once. Default none. */
  heard?: EndsHeard;
  /** Wait for the agent's own announcement this long. Default 1000 ms. */
  graceMs?: number;
  log: Logger;
}

interface Pending {
  session: SessionSummary;
  reason: SessionEndReason;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Announces sessions' ends unless someone else did; see the file comment. */
export class SessionEndAnnouncer {
  /** Ends announced by the proxy, and ends left to someone else's announcement. */
  readonly counts = { announced: 0, alreadyAnnounced: 0 };
  private readonly pending = new Set<Pending>();
  private readonly graceMs: number;

  constructor(private readonly options: SessionEndAnnouncerOptions) {
    this.graceMs = options.heard ? (options.graceMs ?? 1000) : 0;
  }

  /** `session` ended for `reason`: decide after the grace period. */
  sessionEnded(session: SessionSummary, reason: SessionEndReason): void {
    const entry: Pending = { session, reason, timer: undefined };
    this.pending.add(entry);
    if (this.graceMs <= 0) return this.decide(entry);
    entry.timer = setTimeout(() => this.decide(entry), this.graceMs);
  }

  /** Decides every pending end now (the proxy is stopping: an end must not be lost). */
  close(): void {
    for (const entry of [...this.pending]) this.decide(entry);
  }

  private decide(entry: Pending): void {
    if (!this.pending.delete(entry)) return;
    clearTimeout(entry.timer);
    const { session, reason } = entry;
    const id = session.dataflowId;
    const own = SESSION_END_MESSAGE_ID + session.sessionId;
    const heard = (this.options.heard?.terminationsSince(id, session.createdAt) ?? [])
      // The proxy's announcement of another session's end is not this session's end.
      .filter((t) => !t.messageId?.startsWith(SESSION_END_MESSAGE_ID) || t.messageId === own);
    if (heard.length > 0) {
      this.counts.alreadyAnnounced++;
      this.options.log.info("session end already announced", { dataflowId: id, sessionId: session.sessionId, reason });
      return;
    }
    const metadata = this.options.metadataOf(id);
    if (!metadata) return; // the dataflow itself ended: the registry announced that
    this.counts.announced++;
    this.options.announcer.dataflowEvent(TERMINATE_DATAFLOW, id, metadata, reason, own);
  }
}
