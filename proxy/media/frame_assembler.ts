// The ingest media core of one H.264 stream: RTP packets in → whole access units out, with
// the NACKs and PLIs the receiver should send. Pure: no I/O, no clock, no timers. The caller
// (the WHIP session) sends the NACKs/PLIs and calls `poll()` at `wakeAtMs` so losses are
// declared even when packets stop.
//
//   bytes ─► parseRtpPacket ─► SSRC/PT filter ─► JitterBuffer
//        ─► H264Depacketizer ─► AccessUnit (Annex-B, SPS/PPS before keyframes)
//
// RTX (RFC 4588) is unwrapped by werift before packets get here: a retransmission is the
// original packet again, and shows as a NACKed gap filled (`recovered`).
//
// Every packet ends in exactly one place: accepted by the jitter buffer, or one of
// `packetsDropped`; every unit seen ends emitted (`framesOut`) or in `framesDropped`.

import { JitterBuffer, type JitterBufferOptions, type JitterSink } from "./jitter_buffer.ts";
import {
  type AccessUnit,
  type DepacketizerSink,
  FRAME_DROP_REASONS,
  type FrameDropReason,
  H264Depacketizer,
} from "./h264_depacketizer.ts";
import { parseRtpPacket, type RtpPacket } from "./rtp_packet.ts";
import { CaptureClock, stampOf } from "./capture_clock.ts";
import { NalType, nalType } from "../../shared/mod.ts";

export type { AccessUnit, FrameDropReason };

/** Why a packet was not accepted. */
export type PacketDropReason =
  | "malformed"
  | "foreign-ssrc"
  | "foreign-payload-type"
  | "duplicate"
  | "late"
  | "out-of-window";

/** Every `PacketDropReason`, for metrics that list all of them from the start. */
export const PACKET_DROP_REASONS: readonly PacketDropReason[] = [
  "malformed", "foreign-ssrc", "foreign-payload-type", "duplicate", "late",
  "out-of-window",
];

/** werift's `RtpPacket` shape (payload already without padding), accepted as is. */
export interface RtpPacketLike {
  header: {
    marker: boolean;
    payloadType: number;
    sequenceNumber: number;
    timestamp: number;
    ssrc: number;
    paddingSize?: number;
    /** RFC 8285 elements, as werift parses them. */
    extensions?: { id: number; payload: Uint8Array }[];
  };
  payload: Uint8Array;
}

/** Tunables; each field documents its default. */
export interface FrameAssemblerOptions {
  /** Negotiated H.264 payload type; others are dropped. Default: any. */
  payloadType?: number;
  /** Media SSRC; default: the first one seen, switching after `ssrcSwitchAfter` packets of another. */
  ssrc?: number;
  /** Consecutive packets of another SSRC that make it the stream's (when `ssrc` is unset). Default 16. */
  ssrcSwitchAfter?: number;
  /** Jitter buffer tunables (capacity, lossWaitMs, nackIntervalMs, maxNacks, maxNackBurst, resyncAfter). */
  jitter?: JitterBufferOptions;
  /** Minimum time between two PLIs. Default 500 ms. */
  pliIntervalMs?: number;
  /** `--max-access-unit-bytes`: a unit growing past it is dropped as "oversize" and a keyframe
   * is asked for (see h264_depacketizer.ts). Default 4 MiB. */
  maxAccessUnitBytes?: number;
  /** Sequence numbers before the first packet that are NACKed when that packet is not the
   * head of an access unit (an SPS or an access unit delimiter): the stream's first packets
   * may have been lost, and nothing else would ever ask for them. Default 8. */
  leadIn?: number;
  /** RFC 6184 §8.1 packetization-mode negotiated; in mode 0 STAP-A/FU-A packets are still
   * taken but counted (`outOfModePackets`). Default 1. */
  packetizationMode?: 0 | 1;
  /** Negotiated id of the abs-capture-time header extension (RFC 8285): units then get the
   * sender's `captureTimeMs` (proxy/media/capture_clock.ts). Default: none. */
  absCaptureTimeId?: number;
}

/** What one `push`/`poll` produced. Arrays may be shared empty constants: do not mutate. */
export interface AssemblerOutput {
  frames: AccessUnit[];
  /** 16-bit sequence numbers to NACK now (RFC 4585 §6.2.1). */
  nacks: number[];
  /** Send a PLI now (RFC 4585 §6.3.1). */
  pli: boolean;
  /** Units dropped; `seq` is the frame number each used up (undefined: none, see AccessUnit.seq). */
  drops: { reason: FrameDropReason; rtpTimestamp: number; seq: number | undefined }[];
  /** Set when the pushed packet itself was not accepted. */
  packetDrop?: PacketDropReason;
}

/** Cumulative figures. packets = accepted + Σ packetsDropped; accepted = delivered + held. */
export interface AssemblerCounters {
  packets: number;
  bytes: number;
  accepted: number;
  /** Accepted packets passed on to the depacketizer (in sequence order). */
  delivered: number;
  /** Accepted, but after a later sequence number. */
  reordered: number;
  /** Packets that arrived after being NACKed and filled their gap (retransmitted, or late). */
  recovered: number;
  /** Sequence numbers given up on. */
  lost: number;
  nacks: number;
  /** Gaps too large to NACK (over `jitter.maxNackBurst`): given up at once, keyframe asked for. */
  nackBurstsCapped: number;
  plis: number;
  resyncs: number;
  packetsDropped: Record<PacketDropReason, number>;
  framesOut: number;
  frameBytes: number;
  framesDropped: Record<FrameDropReason, number>;
  /** STAP-A/FU-A packets in a packetization-mode 0 session (RFC 6184 §6.2 allows single NAL
   * units only); taken anyway, since they cannot mean anything else. */
  outOfModePackets: number;
}

const NO_FRAMES: AccessUnit[] = Object.freeze([]) as unknown as AccessUnit[];
const NO_NACKS: number[] = Object.freeze([]) as unknown as number[];
const NO_DROPS: AssemblerOutput["drops"] = Object.freeze([]) as unknown as AssemblerOutput["drops"];

/** One stream's packets → access units; see the file comment. */
export class FrameAssembler {
  readonly counters: AssemblerCounters = {
    packets: 0, bytes: 0, accepted: 0, delivered: 0, reordered: 0, recovered: 0, lost: 0, nacks: 0,
    nackBurstsCapped: 0, plis: 0, resyncs: 0, framesOut: 0, frameBytes: 0, outOfModePackets: 0,
    packetsDropped: Object.fromEntries(PACKET_DROP_REASONS.map((r) => [r, 0])) as Record<PacketDropReason, number>,
    framesDropped: Object.fromEntries(FRAME_DROP_REASONS.map((r) => [r, 0])) as Record<FrameDropReason, number>,
  };
  private readonly options: FrameAssemblerOptions;
  private readonly jitter: JitterBuffer<RtpPacket>;
  private readonly depacketizer: H264Depacketizer;
  private readonly singleNalMode: boolean;
  /** The sender's capture times of this stream's pictures. */
  readonly captureClock = new CaptureClock();
  private ssrc: number | undefined;
  private otherSsrc = -1;
  private otherSsrcRun = 0;
  private out: AssemblerOutput = emptyOutput();
  private nowMs = 0;
  private readonly jitterSink: JitterSink<RtpPacket> = {
    release: (p, seq, arrivalMs) => {
      this.counters.delivered++;
      if (p.payload.length === 0 && p.paddingSize > 0) return this.depacketizer.skip(seq);
      const rtp = { timestamp: p.timestamp, marker: p.marker, seq, arrivalMs, nowMs: this.nowMs };
      if (this.singleNalMode && isAggregateOrFragment(p.payload)) this.counters.outOfModePackets++;
      if (this.depacketizer.push(p.payload, rtp, this.unitSink)) this.out.pli = true;
    },
    lost: () => {
      this.counters.lost++;
      if (this.depacketizer.lost(this.nowMs)) this.out.pli = true;
    },
    nack: (seq) => {
      if (this.out.nacks === NO_NACKS) this.out.nacks = [];
      this.out.nacks.push(seq);
      this.counters.nacks++;
    },
  };
  private readonly unitSink: DepacketizerSink = {
    unit: (unit) => {
      if (this.options.absCaptureTimeId !== undefined) unit.captureTimeMs = this.captureClock.captureTimeOf(unit.rtpTimestamp);
      if (this.out.frames === NO_FRAMES) this.out.frames = [];
      this.out.frames.push(unit);
      this.counters.framesOut++;
      this.counters.frameBytes += unit.data.length;
    },
    drop: (reason, rtpTimestamp, seq) => {
      if (this.out.drops === NO_DROPS) this.out.drops = [];
      this.out.drops.push({ reason, rtpTimestamp, seq });
      this.counters.framesDropped[reason]++;
    },
  };

  constructor(options: FrameAssemblerOptions = {}) {
    this.options = options;
    this.ssrc = options.ssrc;
    this.singleNalMode = options.packetizationMode === 0;
    this.jitter = new JitterBuffer(options.jitter);
    this.depacketizer = new H264Depacketizer({
      pliIntervalMs: options.pliIntervalMs, maxUnitBytes: options.maxAccessUnitBytes,
    });
  }

  /** Earliest time `poll()` has work to do (Infinity when none). */
  get wakeAtMs(): number {
    return this.jitter.wakeAtMs;
  }

  /** Frame numbers used so far: the `seq` the next unit would get. */
  get framesNumbered(): number {
    return this.depacketizer.framesNumbered;
  }

  /** Packets waiting behind a gap. */
  get held(): number {
    return this.jitter.held;
  }

  /** Take one received packet (raw bytes, parsed, or werift's), received at `nowMs`. */
  push(packet: Uint8Array | RtpPacket | RtpPacketLike, nowMs: number): AssemblerOutput {
    this.begin(nowMs);
    this.counters.packets++;
    const parsed = this.parse(packet);
    if (parsed) this.accept(parsed, nowMs, packet);
    return this.finish();
  }

  /** Let time pass: declare overdue losses, repeat NACKs; call at `wakeAtMs`. */
  poll(nowMs: number): AssemblerOutput {
    this.begin(nowMs);
    this.jitter.poll(nowMs, this.jitterSink);
    return this.finish();
  }

  private begin(nowMs: number): void {
    this.nowMs = nowMs;
    this.out = emptyOutput();
  }

  private finish(): AssemblerOutput {
    if (this.out.pli) this.counters.plis++;
    return this.out;
  }

  private parse(packet: Uint8Array | RtpPacket | RtpPacketLike): RtpPacket | undefined {
    if (packet instanceof Uint8Array) {
      this.counters.bytes += packet.length;
      const parsed = parseRtpPacket(packet);
      if (typeof parsed !== "string") return parsed;
      return this.dropPacket("malformed");
    }
    if ("header" in packet) {
      // Sizes without extensions/CSRCs: werift does not keep the header length.
      const h = packet.header;
      this.counters.bytes += 12 + packet.payload.length + (h.paddingSize ?? 0);
      return {
        marker: h.marker, payloadType: h.payloadType, sequenceNumber: h.sequenceNumber,
        timestamp: h.timestamp, ssrc: h.ssrc, csrcCount: 0, payload: packet.payload,
        paddingSize: h.paddingSize ?? 0,
      };
    }
    this.counters.bytes += 12 + packet.payload.length;
    return packet;
  }

  private accept(packet: RtpPacket, nowMs: number, original: Uint8Array | RtpPacket | RtpPacketLike): void {
    if (this.options.payloadType !== undefined && packet.payloadType !== this.options.payloadType) {
      return void this.dropPacket("foreign-payload-type");
    }
    if (!this.ownSsrc(packet.ssrc)) return void this.dropPacket("foreign-ssrc");
    if (this.options.absCaptureTimeId !== undefined) {
      const stamp = stampOf(packet, original, this.options.absCaptureTimeId);
      if (stamp) this.captureClock.noteStamp(packet.timestamp, stamp, nowMs);
    }
    const leadIn = this.jitter.started || startsAccessUnit(packet.payload) ? 0 : this.options.leadIn ?? 8;
    const verdict = this.jitter.push(packet.sequenceNumber, packet, nowMs, this.jitterSink, leadIn);
    this.counters.resyncs = this.jitter.counters.resyncs;
    this.counters.recovered = this.jitter.counters.recovered;
    this.counters.nackBurstsCapped = this.jitter.counters.nackBurstsCapped;
    if (verdict === "accepted" || verdict === "reordered") {
      this.counters.accepted++;
      if (verdict === "reordered") this.counters.reordered++;
    } else {
      this.dropPacket(verdict);
    }
  }

  /** SSRC lock: the configured one, else the first seen, switching to a persistent newcomer. */
  private ownSsrc(ssrc: number): boolean {
    if (this.ssrc === undefined) this.ssrc = ssrc;
    if (ssrc === this.ssrc) {
      this.otherSsrcRun = 0;
      return true;
    }
    if (this.options.ssrc !== undefined) return false;
    this.otherSsrcRun = ssrc === this.otherSsrc ? this.otherSsrcRun + 1 : 1;
    this.otherSsrc = ssrc;
    if (this.otherSsrcRun < (this.options.ssrcSwitchAfter ?? 16)) return false;
    // A new sender (restart, simulcast switch): everything held belongs to the old stream.
    this.jitter.reset(this.jitterSink);
    this.depacketizer.reset(this.unitSink);
    this.captureClock.reset();
    this.ssrc = ssrc;
    this.otherSsrcRun = 0;
    return true;
  }

  private dropPacket(reason: PacketDropReason): undefined {
    this.counters.packetsDropped[reason]++;
    this.out.packetDrop = reason;
    return undefined;
  }
}

/** The payload begins with an SPS or an access unit delimiter (alone or first in a STAP-A,
 * RFC 6184 §5.7.1): what a stream's first packet is when its head was not lost. */
function startsAccessUnit(payload: Uint8Array): boolean {
  let type = nalType(payload[0] ?? 0);
  if (type === NalType.stapA && payload.length > 3) type = nalType(payload[3]!);
  return type === NalType.sps || type === NalType.aud;
}

/** STAP-A (§5.7.1) or FU-A (§5.8): packetization-mode 1 payloads. */
function isAggregateOrFragment(payload: Uint8Array): boolean {
  const type = nalType(payload[0] ?? 0);
  return type === NalType.stapA || type === NalType.fuA;
}

function emptyOutput(): AssemblerOutput {
  return { frames: NO_FRAMES, nacks: NO_NACKS, pli: false, drops: NO_DROPS };
}
