/**
 * One WHIP publisher (RFC 9725) as the proxy sees it: a werift answerer, its state
 * (connecting → live → closed), the RTP it receives handed to a sink, and the RTCP
 * feedback the sink asks for: generic NACK (RFC 4585 §6.2.1) and PLI (§6.3.1). When the offer
 * had transport-cc, werift's receiver also reports every packet's arrival (../webrtc/twcc_receiver.ts).
 *
 * werift's own receiver-side NACK generator is switched off (it re-NACKs every 5 ms and
 * mis-orders sequence numbers across the 16-bit wrap); the sink's jitter buffer decides.
 * werift unwraps RTX (RFC 4588 §4) before packets reach us.
 */
import type { GenericNack, RTCPeerConnection, RTCRtpReceiver, RtpPacket } from "werift";
import { type Logger, logger } from "../log.ts";
import { pinIngestFeedback } from "../webrtc/fast_receiver.ts";
import { installTwccFeedback } from "../webrtc/twcc_receiver.ts";
import { installWeriftFastPath } from "../webrtc/werift_fast_path.ts";
import type { H264Choice } from "../webrtc/h264_offer.ts";
import { answerOffer } from "./ingest_peer.ts";
import { nackPackets } from "./nack_packets.ts";
import type { IngestFeedback, SessionEndReason, SessionSink, SinkFactory } from "./ingest_types.ts";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";

// Once per process, when the proxy loads its ingest: werift's per-packet hot spots are replaced
// (~25 → ~9 µs of werift's work per packet), or, if werift is not what they were checked
// against, left alone with one warning.
installWeriftFastPath(logger("webrtc"));
// The transport-cc feedback werift's receiver sends is unreadable (../webrtc/twcc_receiver.ts):
// ours goes out in its place.
installTwccFeedback(logger("webrtc"));

/** Life of a session: `connecting` until the first RTP packet, `live` after, `closed` at the end. */
export type SessionState = "connecting" | "live" | "closed";

/** Counters of one session (cumulative). */
export interface SessionCounters {
  packets: number;
  bytes: number;
  /** Sequence numbers NACKed, and RTCP NACK packets sent. */
  nackedSeqs: number;
  nackPackets: number;
  plisSent: number;
  /** PLIs not sent because one went out less than `PLI_MIN_INTERVAL_MS` ago. */
  plisCoalesced: number;
  /** Packets the sink threw on (each counted, first ones logged). */
  sinkErrors: number;
  rtcpSendErrors: number;
}

/** A PLI storm helps nobody: the encoder is already making a keyframe (RFC 4585 §3.5.3). */
const PLI_MIN_INTERVAL_MS = 300;

/** Options of {@link WhipSession.open}. */
export interface OpenOptions {
  dataflowId: number;
  sessionId: string;
  ice: IngestIceOptions;
  sinks: SinkFactory;
  log: Logger;
  /** Called once when the session ends, after the sink is closed. */
  onEnd: (session: WhipSession, reason: SessionEndReason) => void;
  now?: () => number;
}

/** One live WHIP session; made by {@link WhipSession.open}, ended by {@link WhipSession.close}. */
export class WhipSession {
  state: SessionState = "connecting";
  readonly createdAt: number;
  /** Arrival of the last RTP packet (ms since epoch), undefined before the first. */
  lastPacketAt: number | undefined;
  /** True once ICE/DTLS reached "connected". */
  connected = false;
  endReason: SessionEndReason | undefined;
  readonly counters: SessionCounters = {
    packets: 0, bytes: 0, nackedSeqs: 0, nackPackets: 0, plisSent: 0, plisCoalesced: 0, sinkErrors: 0, rtcpSendErrors: 0,
  };
  private pc: RTCPeerConnection | undefined;
  private receiver: RTCRtpReceiver | undefined;
  private sink: SessionSink | undefined;
  private mediaSsrc: number | undefined;
  private lastPliAt = -Infinity;
  private readonly now: () => number;

  private constructor(readonly dataflowId: number, readonly sessionId: string, private readonly options: OpenOptions) {
    this.now = options.now ?? Date.now;
    this.createdAt = this.now();
  }

  /** Placeholder made before negotiation so a concurrent push sees the slot taken. */
  static reserve(options: OpenOptions): WhipSession {
    return new WhipSession(options.dataflowId, options.sessionId, options);
  }

  /** Negotiates `choice` and returns the answer SDP; throws (and ends nothing) if werift fails. */
  async negotiate(choice: H264Choice): Promise<string> {
    const peer = await answerOffer(choice, this.options.ice);
    if (this.state === "closed") {
      await peer.pc.close().catch(() => undefined);
      throw new Error(`session "${this.sessionId}" was closed while negotiating`);
    }
    this.pc = peer.pc;
    this.receiver = peer.transceiver.receiver;
    disableWeriftNack(this.receiver);
    pinIngestFeedback(this.receiver);
    this.sink = this.options.sinks({
      dataflowId: this.dataflowId, sessionId: this.sessionId,
      payloadType: choice.payloadType, rtxPayloadType: choice.rtxPayloadType,
      packetizationMode: choice.packetizationMode, absCaptureTimeId: choice.absCaptureTimeId,
    });
    // werift announced the remote track during setRemoteDescription, before we got here.
    const tracks = new Set(peer.transceiver.receiver.tracks);
    for (const track of tracks) track.onReceiveRtp.subscribe((rtp) => this.onRtp(rtp));
    peer.pc.onTrack.subscribe((track) => {
      if (tracks.has(track)) return;
      tracks.add(track);
      track.onReceiveRtp.subscribe((rtp) => this.onRtp(rtp));
    });
    peer.pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") {
        this.connected = true;
        this.options.log.info("whip connected", { dataflowId: this.dataflowId, sessionId: this.sessionId });
      } else if (state === "failed") {
        this.close("ice-failed");
      }
    });
    return peer.answer;
  }

  private onRtp(rtp: RtpPacket): void {
    if (this.state === "closed" || !this.sink) return;
    const arrival = this.now();
    if (this.mediaSsrc !== rtp.header.ssrc) this.onNewSource(rtp.header.ssrc);
    const size = rtp.header.serializeSize + rtp.payload.length;
    this.counters.packets++;
    this.counters.bytes += size;
    this.lastPacketAt = arrival;
    const sink = this.sink;
    let feedback: IngestFeedback | void;
    try {
      feedback = sink.onRtp ? sink.onRtp(rtp, arrival) : sink.onPacket?.(rtp.serialize(), arrival);
    } catch (error) {
      this.sinkFailed(error);
      return;
    }
    if (feedback) this.applyFeedback(feedback);
  }

  private sinkFailed(error: unknown): void {
    this.counters.sinkErrors++;
    if (this.counters.sinkErrors <= 5) {
      this.options.log.error("sink failed", { dataflowId: this.dataflowId, error, count: this.counters.sinkErrors });
    }
  }

  /** Lets the sink act on time passing (loss deadlines, NACK repeats) when it asked to. */
  poll(now = this.now()): void {
    const sink = this.sink;
    if (this.state === "closed" || !sink?.poll) return;
    if ((sink.wakeAtMs?.() ?? Infinity) > now) return;
    try {
      const feedback = sink.poll(now);
      if (feedback) this.applyFeedback(feedback);
    } catch (error) {
      this.sinkFailed(error);
    }
  }

  private onNewSource(ssrc: number): void {
    const first = this.mediaSsrc === undefined;
    this.mediaSsrc = ssrc;
    if (first) {
      this.state = "live";
      this.options.log.info("whip media started", { dataflowId: this.dataflowId, sessionId: this.sessionId, ssrc });
    }
    // A stream (or a restarted source) starts: ask for a keyframe at once.
    this.requestKeyframe();
  }

  /** Sends what a sink asked for. */
  applyFeedback(feedback: IngestFeedback): void {
    if (feedback.nacks && feedback.nacks.length > 0) this.sendNack(feedback.nacks);
    if (feedback.pli) this.requestKeyframe();
  }

  /** Sends a PLI (RFC 4585 §6.3.1) unless one went out within the last 300 ms. */
  requestKeyframe(): boolean {
    const receiver = this.receiver;
    if (this.state === "closed" || !receiver || this.mediaSsrc === undefined) return false;
    const now = this.now();
    if (now - this.lastPliAt < PLI_MIN_INTERVAL_MS) {
      this.counters.plisCoalesced++;
      return false;
    }
    this.lastPliAt = now;
    this.counters.plisSent++;
    receiver.sendRtcpPLI(this.mediaSsrc).catch(() => this.counters.rtcpSendErrors++);
    return true;
  }

  /** Sends generic NACKs (RFC 4585 §6.2.1) for `seqs`, one RTCP packet per 64 of them. */
  sendNack(seqs: readonly number[]): void {
    const receiver = this.receiver;
    if (this.state === "closed" || !receiver || this.mediaSsrc === undefined) return;
    for (const packet of nackPackets(seqs, receiver.rtcpSsrc, this.mediaSsrc)) {
      this.counters.nackedSeqs += (packet.feedback as GenericNack).lost.length;
      this.counters.nackPackets++;
      receiver.dtlsTransport.sendRtcp([packet]).catch(() => this.counters.rtcpSendErrors++);
    }
  }

  /** Ms since the last RTP packet (or since the session began, before the first). */
  silentForMs(now = this.now()): number {
    return now - (this.lastPacketAt ?? this.createdAt);
  }

  /** Ends the session once: closes the sink and the peer, then calls `onEnd`. */
  close(reason: SessionEndReason): void {
    if (this.state === "closed") return;
    this.release(reason);
    this.options.log.info("whip session ended", {
      dataflowId: this.dataflowId, sessionId: this.sessionId, reason, ...this.counters,
    });
    this.options.onEnd(this, reason);
  }

  /**
   * Tears down a session that never started (its negotiation or the ingest's start hook
   * threw): the sink and the werift peer are closed, and no `onEnd` is reported for it.
   */
  abort(): void {
    if (this.state !== "closed") this.release("shutdown");
  }

  private release(reason: SessionEndReason): void {
    this.state = "closed";
    this.endReason = reason;
    try {
      this.sink?.close(reason);
    } catch (error) {
      this.options.log.error("sink failed to close", { dataflowId: this.dataflowId, error });
    }
    const pc = this.pc;
    if (pc) {
      pc.close().catch((error) => this.options.log.warn("peer close failed", { dataflowId: this.dataflowId, error }));
    }
  }

  /** The werift peer (for tests that check it was closed). */
  get peer(): RTCPeerConnection | undefined {
    return this.pc;
  }
}

/**
 * werift's receiver NACKs every gap by itself (media/receiver/nack.ts) once `nack` is
 * negotiated. Closing its handler stops that loop; our sink's jitter buffer NACKs instead.
 */
function disableWeriftNack(receiver: RTCRtpReceiver): void {
  const handler = (receiver as unknown as { nack?: { close(): void } }).nack;
  if (!handler || typeof handler.close !== "function") {
    throw new Error("werift receiver has no NACK handler to disable; werift's internals changed");
  }
  handler.close();
}
