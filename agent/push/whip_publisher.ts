/**
 * The agent's WHIP publisher (RFC 9725): one werift RTCPeerConnection with one sendonly
 * H.264 transceiver (packetization-mode 1, profile-level-id 42e01f, RFC 6184 §8.1; NACK,
 * PLI and FIR feedback, RFC 4585 §4.2 / RFC 5104 §7.1; RTX, RFC 4588), non-trickle offer,
 * and `sendRtp()` for packets read from the capture child.
 *
 * werift's sender rewrites SSRC/payload type to the negotiated ones, answers NACKs from a
 * 128-packet history (as RTX when negotiated) and reports PLI; we add FIR, a source-restart
 * splice (new SSRC from a restarted gst child, resumed at its first keyframe), a GOP cache so
 * a session that connects mid-GOP starts on a keyframe, and an RTCP watchdog: a full-ICE agent only notices a dead
 * peer after 30 s of failed consent checks (RFC 7675), the receiver reports every ~1 s.
 */
import {
  RTCPeerConnection,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  TransportWideCC,
  UdpTransport,
} from "werift";
import { guardUdpErrors } from "../../shared/runtime/udp_errors.ts";
import { RTP_EXTENSION } from "../../shared/mod.ts";
import { createLogger, type Logger } from "../log.ts";
import { GopCache } from "./gop_cache.ts";
import type { SendMark } from "./ladder_select.ts";
import type { SentInfo, TwccReport } from "./link_estimator.ts";
import { SentLog, twccReport } from "./twcc_report.ts";
import { PublisherEvents } from "./publisher_events.ts";
import { publisherConfig, type WhipPublisherOptions } from "./publisher_config.ts";
import { withoutPublicStun } from "./no_public_stun.ts";
import { keepCandidates } from "../../shared/runtime/sdp_candidates.ts";
import { SourceSplice } from "./source_splice.ts";
import { weriftPacket } from "./werift_packet.ts";
import { deleteSession, postOffer } from "./whip_client.ts";

export type { WhipPublisherOptions } from "./publisher_config.ts";
export { WhipHttpError } from "./whip_client.ts";

/** Life of a publisher. */
export type PublisherState = "new" | "negotiating" | "connecting" | "connected" | "disconnected" | "closed";

/** Counters (cumulative). */
export interface PublisherCounters {
  packetsSent: number;
  bytesSent: number;
  /** Packets that arrived before the session connected (the GOP cache replays the last GOP). */
  droppedNotConnected: number;
  /** Packets replayed from the GOP cache when the session connected. */
  replayed: number;
  /** Packets werift refused to send (threw). */
  sendErrors: number;
  plis: number;
  firs: number;
  nacks: number;
  /** Times a new source SSRC was spliced into the outgoing stream. */
  sourceRestarts: number;
  /** Packets of a restarted source dropped before its first keyframe. */
  droppedAwaitingKeyframe: number;
  /** Capture stamps (abs-capture-time) sent; 0 when the proxy did not negotiate it. */
  captureStampsSent: number;
}

// A proxy that went away must not end the agent (shared/runtime/udp_errors.ts).
const udpLog = createLogger({ component: "push" });
guardUdpErrors(UdpTransport, (msg, fields) => udpLog.warn(msg, fields));

/** A continued stream's timestamp step is its own below this (10 s at 90 kHz), else one picture. */
const MAX_OWN_STEP = 900_000;

/** PSFB FMT of FIR (RFC 5104 §4.3.1.1); werift does not export its class. */
const FIR_FMT = 4;

/** Pushes one H.264 RTP stream to a WHIP endpoint. */
export class WhipPublisher extends PublisherEvents {
  state: PublisherState = "new";
  readonly counters: PublisherCounters = {
    packetsSent: 0, bytesSent: 0, droppedNotConnected: 0, replayed: 0, sendErrors: 0,
    plis: 0, firs: 0, nacks: 0, sourceRestarts: 0, droppedAwaitingKeyframe: 0, captureStampsSent: 0,
  };
  /** The negotiated abs-capture-time extension id (undefined: not negotiated, stamps dropped). */
  captureStampId: number | undefined;
  /** Session URL once answered. */
  location: string | undefined;
  /**
   * Gets every transport-wide congestion control feedback (when the proxy negotiated
   * transport-cc), with what was sent under each transport sequence number.
   */
  onTwcc: ((report: TwccReport, sent: (sequenceNumber: number) => SentInfo | undefined) => void) | undefined;
  private pc: RTCPeerConnection | undefined;
  private sender: RTCRtpSender | undefined;
  private readonly gop = new GopCache();
  private readonly splice: SourceSplice;
  private lastRtcpAt = 0;
  private readonly sentLog = new SentLog();
  /** RTP timestamp (as read from the capture) of the last packet sent. */
  private lastSentTimestamp: number | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: WhipPublisherOptions) {
    super();
    this.log = options.log ?? createLogger({ component: "push" });
    this.splice = new SourceSplice({ fps: options.fps });
  }

  protected override reportListenerError(event: string, error: unknown): void {
    this.log.error("publisher listener failed", { event, error });
  }

  /** Negotiates with the WHIP endpoint; resolves once answered (connection follows: "connected"). */
  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`WhipPublisher.start() called in state "${this.state}"`);
    this.state = "negotiating";
    const pc = new RTCPeerConnection(publisherConfig(this.options));
    this.pc = pc;
    try {
      const transceiver = pc.addTransceiver("video", { direction: "sendonly" });
      this.sender = transceiver.sender;
      withoutPublicStun(pc);
      await pc.setLocalDescription(await pc.createOffer());
      await waitGathered(pc, this.options.gatherTimeoutMs ?? 5_000);
      const local = pc.localDescription?.sdp;
      if (!local) throw new Error("werift produced no local description");
      const offer = keepCandidates(local, new Set(this.options.interfaceAddresses ?? []));
      if (offer.kept === 0) throw new Error(`no ICE candidate on "${(this.options.interfaceAddresses ?? []).join(",")}"`);
      const { answer, location } = await postOffer(this.options.url, this.options.token, offer.sdp, this.options);
      if ((this.state as PublisherState) === "closed") {
        // close() ran while the POST was in flight: end the session we just got.
        await deleteSession(location, this.options.token, this.options).catch(() => undefined);
        return;
      }
      this.location = location;
      this.watchConnection(pc, transceiver.sender);
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      this.captureStampId = negotiatedId(transceiver, RTP_EXTENSION.absCaptureTime);
      this.state = "connecting";
      this.log.info("whip answered", { location, candidates: offer.kept, captureTimes: this.captureStampId !== undefined });
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  private watchConnection(pc: RTCPeerConnection, sender: RTCRtpSender): void {
    pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") this.onConnected();
      else if (state === "failed" || state === "disconnected") this.lose(`connection ${state}`);
    });
    sender.onPictureLossIndication.subscribe(() => {
      this.counters.plis++;
      this.emit("pli", { kind: "pli" });
    });
    sender.onGenericNack.subscribe((nack) => {
      this.counters.nacks += nack.lost.length;
    });
    sender.dtlsTransport.onRtcp.subscribe((packet) => this.onRtcp(packet));
    const connectBy = Date.now() + (this.options.connectTimeoutMs ?? 10_000);
    this.watchdog = setInterval(() => this.checkAlive(connectBy), 250);
  }

  private onConnected(): void {
    if (this.state !== "connecting") return;
    this.state = "connected";
    this.lastRtcpAt = Date.now();
    const held = this.gop.take();
    for (const packet of held) this.send(packet);
    this.counters.replayed += held.length;
    this.log.info("whip connected", { replayed: held.length });
    this.emit("connected", {});
  }

  private onRtcp(packet: RtcpPacket): void {
    this.lastRtcpAt = Date.now();
    // FIR (RFC 5104 §4.3.1) names our SSRC inside its FCI, not in the header, so werift's
    // router does not hand it to the sender; PLI does reach the sender (handled above).
    if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback?.count === FIR_FMT) {
      const ssrc = this.sender?.ssrc;
      const entries = (packet.feedback as unknown as { fir?: { ssrc: number }[] }).fir ?? [];
      if (entries.some((entry) => entry.ssrc === ssrc)) {
        this.counters.firs++;
        this.emit("pli", { kind: "fir" });
      }
    }
    if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC && this.onTwcc) {
      this.onTwcc(twccReport(packet.feedback), (seq) => this.sentLog.get(seq));
    }
  }

  private checkAlive(connectBy: number): void {
    const now = Date.now();
    if (this.state === "connecting" && now > connectBy) this.lose("not connected in time");
    // Receivers report (RFC 3550 §6.4.2) only once media flows, so the clock starts then.
    const timeout = this.options.rtcpTimeoutMs ?? 3_000;
    if (this.state === "connected" && this.counters.packetsSent > 0 && now - this.lastRtcpAt > timeout) {
      this.lose(`no RTCP for ${timeout} ms`);
    }
  }

  private lose(reason: string): void {
    if (this.state === "closed" || this.state === "disconnected") return;
    const wasConnected = this.state === "connected";
    this.state = "disconnected";
    clearInterval(this.watchdog);
    this.log.warn("whip session lost", { reason, location: this.location });
    this.emit(wasConnected ? "disconnected" : "failed", { reason });
  }

  /**
   * Sends one RTP packet from the capture (SSRC and payload type are rewritten to the
   * negotiated ones). Before the session connects, the current GOP is held and replayed.
   * `mark` (agent/push/ladder_select.ts): the packet continues the stream after a switch to
   * another rung or after dropped pictures; sequence numbers go on without a gap and the
   * timestamp by the capture's own step.
   */
  sendRtp(packet: Uint8Array, mark?: SendMark): void {
    if (this.state !== "connected") {
      if (this.state === "closed") return;
      this.counters.droppedNotConnected++;
      this.gop.push(packet);
      return;
    }
    this.send(packet, mark);
  }

  private send(packet: Uint8Array, mark?: SendMark): void {
    const sender = this.sender;
    if (!sender || packet.length < 12) return;
    const action = this.splice.accept(packet, mark !== undefined);
    this.counters.sourceRestarts = this.splice.counters.sourceRestarts;
    this.counters.droppedAwaitingKeyframe = this.splice.counters.droppedAwaitingKeyframe;
    if (action === "hold") return;
    const timestamp = new DataView(packet.buffer, packet.byteOffset, packet.byteLength).getUint32(4);
    if (action === "splice") {
      // A restarted gst child has a new SSRC, sequence and timestamp base: continue ours
      // (werift computes the offsets from the next packet it sends, this keyframe). A rung
      // switch or dropped pictures keep the capture's timeline: step by its own distance.
      const own = this.lastSentTimestamp === undefined ? 0 : (timestamp - this.lastSentTimestamp) >>> 0;
      const step = mark !== undefined && own > 0 && own < MAX_OWN_STEP ? own : this.splice.timestampStep;
      sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 }, true, step);
      const { sourceRestarts, droppedAwaitingKeyframe } = this.counters;
      if (mark === undefined) this.log.info("source spliced at a keyframe", { sourceRestarts, droppedAwaitingKeyframe, timestampStep: step });
    }
    this.lastSentTimestamp = timestamp;
    if (this.counters.packetsSent === 0) this.lastRtcpAt = Date.now();
    this.counters.packetsSent++;
    this.counters.bytesSent += packet.length;
    if (this.captureStampId !== undefined && packet[0]! & 0x10) this.counters.captureStampsSent++;
    // werift numbers the packet (transport-wide sequence number, when negotiated) before its
    // first await; its own log of them (senderBWE.sentInfos) is keyed after the await, when
    // later packets have moved the number on, so this keeps its own for push/link_estimator.ts.
    const dtls = (sender as unknown as { dtlsTransport?: { transportSequenceNumber?: number } }).dtlsTransport;
    const before = dtls?.transportSequenceNumber;
    sender.sendRtp(weriftPacket(packet, this.captureStampId)).catch(() => this.counters.sendErrors++);
    const seq = dtls?.transportSequenceNumber;
    if (this.onTwcc && seq !== undefined && seq !== before) this.sentLog.add(seq, packet.length, Date.now());
  }

  /** Ends the session: WHIP DELETE on the Location (errors logged), then closes the peer. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    clearInterval(this.watchdog);
    if (this.location) {
      try {
        await deleteSession(this.location, this.options.token, this.options);
      } catch (error) {
        this.log.warn("whip delete failed", { location: this.location, error });
      }
    }
    await this.pc?.close().catch((error) => this.log.warn("peer close failed", { error }));
    this.emit("closed", {});
  }
}

/** The id the answer gave header extension `uri`, if it kept it. */
function negotiatedId(transceiver: RTCRtpTransceiver, uri: string): number | undefined {
  return transceiver.headerExtensions.find((extension) => extension.uri === uri)?.id;
}

function waitGathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`ICE gathering did not complete within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    });
  });
}
