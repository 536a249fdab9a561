/**
 * One WHEP viewer as the proxy sees it: a werift sendonly answerer (whep_peer.ts), its
 * state (connecting → connected → closed), its own queue and sender (viewer_stream.ts), the
 * PLIs it sends us, and how we notice that it went away without a DELETE.
 *
 * The proxy is ICE-lite, so it never sends consent checks (RFC 7675) itself; the player
 * does, every ~5 s, and a connected player also sends RTCP receiver reports about every
 * second. A viewer from which neither arrived for `silenceTimeoutMs` is gone (tab closed,
 * laptop asleep, network lost) and is ended with "timeout"; ICE/DTLS failure or closure ends
 * it at once.
 */
import type { RTCPeerConnection } from "werift";
import type { Logger } from "../log.ts";
import type { AccessUnit } from "../media/frame_assembler.ts";
import type { OfferResult } from "./viewer_queue.ts";
import { ViewerStream, type ViewerStreamOptions } from "./viewer_stream.ts";
import type { WhepPeer } from "./whep_peer.ts";

/** Why a viewer ended. */
export type ViewerEndReason =
  | "delete" // the player sent DELETE on the Location
  | "ice-failed" // ICE/DTLS never connected, or failed
  | "peer-closed" // the player closed the connection (DTLS close_notify) without a DELETE
  | "timeout" // no consent check and no RTCP for `silenceTimeoutMs`
  | "dataflow-ended" // the dataflow expired or was deleted
  | "shutdown"; // the proxy is stopping

/** Every `ViewerEndReason`, for metrics. */
export const VIEWER_END_REASONS: readonly ViewerEndReason[] = ["delete", "ice-failed", "peer-closed", "timeout", "dataflow-ended", "shutdown"];

/** Life of a viewer. */
export type ViewerState = "connecting" | "connected" | "closed";

/** Options of {@link WhepViewer}. */
export interface ViewerOptions {
  dataflowId: number;
  viewerId: string;
  log: Logger;
  /** The player asked for a keyframe (PLI/FIR), or the queue dropped frames. */
  onKeyframeWanted: () => void;
  /** Called once when the viewer ends. */
  onEnd: (viewer: WhepViewer, reason: ViewerEndReason) => void;
  stream?: ViewerStreamOptions;
  now?: () => number;
}

/** Packets and STUN requests received on the selected pair: grows while the player is alive. */
function activityOf(pc: RTCPeerConnection): number {
  let total = 0;
  for (const transport of pc.iceTransports) {
    const pair = (transport.connection as unknown as { nominated?: { packetsReceived?: number; requestsReceived?: number } }).nominated;
    total += (pair?.packetsReceived ?? 0) + (pair?.requestsReceived ?? 0);
  }
  return total;
}

/** One connected (or connecting) player. */
export class WhepViewer {
  state: ViewerState = "connecting";
  readonly createdAt: number;
  readonly stream: ViewerStream;
  endReason: ViewerEndReason | undefined;
  /** PLIs and FIRs received from the player. */
  keyframeRequests = 0;
  private lastActivity = -1;
  private lastActivityAt: number;
  private readonly now: () => number;

  constructor(private readonly peer: WhepPeer, private readonly options: ViewerOptions) {
    this.now = options.now ?? Date.now;
    this.createdAt = this.now();
    this.lastActivityAt = this.createdAt;
    const sender = peer.sender;
    this.stream = new ViewerStream((packet) => sender.sendRtp(packet), options.stream);
    sender.onPictureLossIndication.subscribe(() => {
      this.keyframeRequests++;
      options.onKeyframeWanted();
    });
    peer.pc.connectionStateChange.subscribe((state) => {
      if (state === "connected" && this.state === "connecting") {
        this.state = "connected";
        this.options.log.info("whep viewer connected", { dataflowId: this.dataflowId, viewerId: this.viewerId });
        this.stream.start();
      } else if (state === "failed") {
        this.close("ice-failed");
      } else if (state === "closed") {
        this.close("peer-closed");
      }
    });
  }

  get dataflowId(): number {
    return this.options.dataflowId;
  }

  get viewerId(): string {
    return this.options.viewerId;
  }

  /** Queues a frame for this viewer (never waits); asks for a keyframe when the queue needs one. */
  push(unit: AccessUnit, timestamp?: number): OfferResult {
    const result = this.stream.push(unit, timestamp);
    if (result.wantKeyframe) this.options.onKeyframeWanted();
    return result;
  }

  /** Ends the viewer if it never connected within `connectTimeoutMs` or went silent. */
  check(now: number, limits: { connectTimeoutMs: number; silenceTimeoutMs: number }): void {
    if (this.state === "closed") return;
    if (this.state === "connecting") {
      if (now - this.createdAt >= limits.connectTimeoutMs) this.close("ice-failed");
      return;
    }
    const activity = activityOf(this.peer.pc);
    if (activity !== this.lastActivity) {
      this.lastActivity = activity;
      this.lastActivityAt = now;
    } else if (now - this.lastActivityAt >= limits.silenceTimeoutMs) {
      this.close("timeout");
    }
  }

  /** Ends the viewer once: stops its stream, closes the peer, then calls `onEnd`. */
  close(reason: ViewerEndReason): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.endReason = reason;
    this.stream.close();
    this.peer.pc.close().catch((error) => this.options.log.warn("whep peer close failed", { dataflowId: this.dataflowId, error }));
    this.options.log.info("whep viewer ended", {
      dataflowId: this.dataflowId, viewerId: this.viewerId, reason, ...this.stream.counters, dropped: this.stream.queue.dropped,
    });
    this.options.onEnd(this, reason);
  }
}
