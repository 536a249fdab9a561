// H.264 RTP depacketizer, RFC 6184 packetization-mode 1 (non-interleaved, §6.3): single NAL
// unit packets (§5.6), STAP-A (§5.7.1) and FU-A (§5.8), grouped into access units by RTP
// timestamp and closed by the marker bit (§5.1) or by the next timestamp. A marker on a unit of
// parameter sets alone (AUD/SEI/SPS/PPS) does not close it: the picture at the same timestamp
// joins it (see `push`).
//
//   STAP-A (§5.7.1)                          FU-A (§5.8)
//   +---------------+---------------+        +---------------+---------------+
//   |F|NRI| Type=24 | NALU 1 size   |        |F|NRI| Type=28 |S|E|R| Type    |
//   +---------------+---------------+        +---------------+---------------+
//   | NALU 1 size   | NALU 1 HDR    |        |       FU indicator / header   |
//   +---------------+  ...          |        |  fragment of the NAL payload  |
//   | NALU 2 size   | NALU 2 HDR ...|        |  (the NAL header is rebuilt   |
//   +-------------------------------+        |   from F|NRI and Type)        |
//                                            +-------------------------------+
//
// Packets must come in sequence order (from the jitter buffer) with extended sequence numbers;
// a number skipped means loss. A unit that may miss any packet, or whose FU-A runs are broken,
// is never emitted: it is reported as a drop with its reason, and the stream then waits for
// the next IDR (a decoder could not use what follows anyway), asking for it with a PLI.
// Keyframes come from the NAL types (IDR = 5), never from FU header bits alone.
//
// A unit is bounded (`maxUnitBytes`): packets of one timestamp without a marker, or an FU-A
// without an end bit, would otherwise grow one frame without limit. When the next packet would
// take it over the bound, the unit is dropped at once ("oversize": reported then, its buffers
// freed, a keyframe asked for) and the rest of that timestamp is discarded unread until a new
// timestamp opens the next unit.
//
// Frame numbers (`seq`) start at 0 with the first emitted keyframe and then count every access
// unit seen, emitted or dropped, so a dropped frame leaves a jump a consumer can see. Only units
// that are no frame at all are not numbered: those without a picture (parameter sets alone) and
// the stray tail of a unit already closed by its marker ("after-marker").

import {
  flattenNal,
  type FuNal,
  type Nal,
  nalHeader,
  nalSize,
  sameBytes,
  secondByte,
  type UnitDraft,
  writeAccessUnit,
} from "./access_unit_writer.ts";
import { isVclType, NalType, parseSps } from "../../shared/mod.ts";

/** Why an access unit was not emitted. */
export type FrameDropReason =
  | "packet-lost"
  | "fu-a-incomplete"
  | "fu-a-without-start"
  | "malformed"
  | "unsupported-packet"
  | "after-marker"
  | "first-slice-missing"
  | "no-picture"
  | "awaiting-keyframe"
  | "missing-parameter-sets"
  | "oversize";

/** Every `FrameDropReason`, for metrics that list all of them from the start. */
export const FRAME_DROP_REASONS: readonly FrameDropReason[] = [
  "packet-lost", "fu-a-incomplete", "fu-a-without-start", "malformed", "unsupported-packet",
  "after-marker", "first-slice-missing", "no-picture", "awaiting-keyframe",
  "missing-parameter-sets", "oversize",
];

/** One whole access unit, Annex-B, SPS+PPS in front of every keyframe. */
export interface AccessUnit {
  /** Annex-B bytes: 4-byte start code before each NAL unit. A node `Buffer` that may share
   * its ArrayBuffer with other frames (Buffer pool): use it as a view, never `.buffer`. */
  data: Uint8Array;
  /** The NAL units of `data` (views, without start codes). */
  nals: Uint8Array[];
  keyframe: boolean;
  rtpTimestamp: number;
  /** Frame number: 0 for the first emitted keyframe, +1 for every unit seen after it, emitted
   * or dropped (see the file comment), so a jump means frames were dropped. */
  seq: number;
  /** Earliest arrival among the unit's packets (the caller's clock, ms). */
  firstPacketArrivalMs: number;
  /** When the picture was captured, on the sender's wall clock (ms since the epoch), when the
   * sender told (abs-capture-time; set by the FrameAssembler); undefined when it did not. */
  captureTimeMs?: number;
  /** Picture size from the SPS in force, when one has been seen. */
  width?: number;
  height?: number;
}

/** Receives units and drops, synchronously from `push`. */
export interface DepacketizerSink {
  unit(unit: AccessUnit): void;
  /** `seq` is the frame number the dropped unit used up; undefined when it took none. */
  drop(reason: FrameDropReason, rtpTimestamp: number, seq: number | undefined): void;
}

/** Drops of units that are no frame: they take no frame number. */
const UNNUMBERED: ReadonlySet<FrameDropReason> = new Set(["no-picture", "after-marker"]);

/** Default `maxUnitBytes` (`--max-access-unit-bytes`): 4 MiB, several times a 4K keyframe. */
export const DEFAULT_MAX_ACCESS_UNIT_BYTES = 4 * 1024 * 1024;

/** What a unit is charged per packet and per NAL unit besides its payload: the views and the
 * packet header they keep alive, so a flood of tiny packets or NAL units is bounded too. */
const BOOKKEEPING_BYTES = 64;

/** Tunables; each field documents its default. */
export interface DepacketizerOptions {
  /** Minimum time between two keyframe requests. Default 500 ms. */
  pliIntervalMs?: number;
  /** Bytes one access unit may hold while it is assembled (payload plus 64 per packet and per
   * NAL unit); one that would grow past it is dropped as "oversize". Default 4 MiB. */
  maxUnitBytes?: number;
}

/** Packets in (sequence order) → access units out; see the file comment. */
export class H264Depacketizer {
  /** Packets whose payload type RFC 6184 says to ignore (0, 30, 31). */
  ignoredPackets = 0;
  private readonly pliIntervalMs: number;
  private readonly maxUnitBytes: number;
  /** Bytes the open unit holds (see `maxUnitBytes`). */
  private unitBytes = 0;
  private readonly unit: UnitDraft = {
    nals: [], timestamp: 0, arrivalMs: 0, hasIdr: false, hasSps: false, hasPps: false,
    hasVcl: false,
  };
  private open = false;
  private broken: FrameDropReason | undefined;
  private fu: FuNal | undefined;
  private lastSeq: number | undefined;
  private lostBeforeNext = false;
  private lastClosedTimestamp: number | undefined;
  private awaitingKeyframe = true;
  /** A drop or loss happened since the last PLI decision. */
  private pliWanted = false;
  private lastPliMs = -Infinity;
  /** The next frame number; undefined until the first keyframe is emitted. */
  private nextFrameSeq: number | undefined;
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  private size: { width: number; height: number } | undefined;

  constructor(options: DepacketizerOptions = {}) {
    this.pliIntervalMs = options.pliIntervalMs ?? 500;
    this.maxUnitBytes = options.maxUnitBytes ?? DEFAULT_MAX_ACCESS_UNIT_BYTES;
  }

  /** Frame numbers used so far (the next unit's `seq`); 0 until the first keyframe is emitted. */
  get framesNumbered(): number {
    return this.nextFrameSeq ?? 0;
  }

  /**
   * Take the next packet in sequence order (`seq` extended, so `seq - 1` is its predecessor).
   * Returns true when a keyframe should be requested (PLI) now.
   */
  push(
    payload: Uint8Array,
    rtp: { timestamp: number; marker: boolean; seq: number; arrivalMs: number; nowMs: number },
    sink: DepacketizerSink,
  ): boolean {
    const gap = this.lastSeq !== undefined && rtp.seq !== this.lastSeq + 1;
    this.lastSeq = rtp.seq;
    if (gap) this.onGap(rtp.timestamp, sink);
    if (this.open && rtp.timestamp !== this.unit.timestamp) this.close(sink);
    if (!this.open) this.openUnit(rtp.timestamp, rtp.arrivalMs);
    if (rtp.arrivalMs < this.unit.arrivalMs) this.unit.arrivalMs = rtp.arrivalMs;
    if (!this.broken) this.take(payload, sink);
    // RFC 6184 §5.1: the marker is set on the last packet of the access unit. File senders
    // (GStreamer's rtph264pay replaying a pre-encoded stream) also set it on a packet of
    // parameter sets alone sent ahead of the IDR at the same timestamp; H.264 §7.4.1.2.3 puts
    // SPS/PPS/SEI/AUD before the picture's first slice in the same access unit, so such a
    // unit stays open for the picture that follows (a new timestamp still closes it).
    if (rtp.marker && !this.parameterSetsOnly()) this.close(sink);
    return this.pliDue(rtp.nowMs);
  }

  /** The open unit holds only NAL units that precede a picture (AUD, SEI, SPS, PPS), whole. */
  private parameterSetsOnly(): boolean {
    const u = this.unit;
    if (this.broken || this.fu || u.hasVcl || u.nals.length === 0) return false;
    for (const nal of u.nals) {
      const type = nalHeader(nal) & 0x1f;
      if (type !== NalType.aud && type !== NalType.sei && type !== NalType.sps && type !== NalType.pps) return false;
    }
    return true;
  }

  /**
   * A padding-only packet (RFC 3550 §5.1, P bit, no payload): senders use them to probe
   * bandwidth on the media SSRC. It keeps sequence continuity and carries nothing.
   */
  skip(seq: number): void {
    const gap = this.lastSeq !== undefined && seq !== this.lastSeq + 1;
    this.lastSeq = seq;
    if (!gap) return;
    // Without a timestamp the gap cannot be placed: both sides of it are suspect.
    if (this.open) this.broken ??= "packet-lost";
    this.lostBeforeNext = true;
  }

  /**
   * A packet was given up on. Its unit is dropped when the next packet shows the gap; the
   * keyframe is wanted from now on. Returns true when a PLI should be sent now.
   */
  lost(nowMs: number): boolean {
    this.awaitingKeyframe = true;
    this.pliWanted = true;
    return this.pliDue(nowMs);
  }

  /** Forget the stream (new SSRC or numbering): wait for a keyframe again; keep SPS/PPS. */
  reset(sink: DepacketizerSink): void {
    if (this.open) this.close(sink, "packet-lost");
    this.lastSeq = undefined;
    this.lostBeforeNext = false;
    this.lastClosedTimestamp = undefined;
    this.awaitingKeyframe = true;
  }

  private onGap(timestamp: number, sink: DepacketizerSink): void {
    if (this.open && timestamp === this.unit.timestamp) {
      this.broken ??= "packet-lost";
      return;
    }
    if (this.open) this.close(sink, "packet-lost");
    this.lostBeforeNext = true;
  }

  private openUnit(timestamp: number, arrivalMs: number): void {
    const u = this.unit;
    u.nals.length = 0;
    u.timestamp = timestamp;
    u.arrivalMs = arrivalMs;
    u.hasIdr = u.hasSps = u.hasPps = u.hasVcl = false;
    this.unitBytes = 0;
    this.open = true;
    this.broken = this.lostBeforeNext
      ? "packet-lost"
      : timestamp === this.lastClosedTimestamp ? "after-marker" : undefined;
    this.lostBeforeNext = false;
  }

  /** Adds the payload to the open unit, or drops the unit when it would grow past the bound. */
  private take(payload: Uint8Array, sink: DepacketizerSink): void {
    this.unitBytes += payload.length + BOOKKEEPING_BYTES;
    if (this.unitBytes <= this.maxUnitBytes) return this.addPayload(payload);
    // Freed now, reported now (a sender that never changes its timestamp never closes the
    // unit), and the rest of this timestamp is skipped by `push` since the unit is broken.
    this.unit.nals.length = 0;
    this.fu = undefined;
    this.broken = "oversize";
    this.drop("oversize", sink);
  }

  private addPayload(p: Uint8Array): void {
    if (p.length === 0 || p[0]! & 0x80) return this.breakUnit("malformed"); // F bit, §5.3
    const type = p[0]! & 0x1f;
    if (type === NalType.fuA) return this.addFuA(p);
    if (type === 0 || type >= 30) {
      this.ignoredPackets++; // "ig" in RFC 6184 Table 3
      return;
    }
    if (this.fu) return this.breakUnit("fu-a-incomplete");
    if (type < NalType.stapA) return this.addNal(p);
    if (type === NalType.stapA) return this.addStapA(p);
    this.breakUnit("unsupported-packet"); // STAP-B, MTAP, FU-B: interleaved mode only
  }

  /** STAP-A: repeated [16-bit size][NAL unit] after the one-octet header (§5.7.1). */
  private addStapA(p: Uint8Array): void {
    let offset = 1;
    if (p.length < 4) return this.breakUnit("malformed");
    while (offset < p.length) {
      if (offset + 2 > p.length) return this.breakUnit("malformed");
      const size = (p[offset]! << 8) | p[offset + 1]!;
      offset += 2;
      if (size === 0 || offset + size > p.length) return this.breakUnit("malformed");
      this.addNal(p.subarray(offset, offset + size));
      if (this.broken) return;
      offset += size;
    }
  }

  /** FU-A: S starts a NAL, E ends it, S and E never both (§5.8). */
  private addFuA(p: Uint8Array): void {
    if (p.length < 3) return this.breakUnit("malformed");
    const fuHeader = p[1]!;
    const start = (fuHeader & 0x80) !== 0;
    const end = (fuHeader & 0x40) !== 0;
    const type = fuHeader & 0x1f;
    if ((start && end) || type === 0 || type >= NalType.stapA) return this.breakUnit("malformed");
    if (start) {
      if (this.fu) return this.breakUnit("fu-a-incomplete");
      this.fu = { header: (p[0]! & 0xe0) | type, parts: [p.subarray(2)], size: p.length - 1 };
      return;
    }
    const fu = this.fu;
    if (!fu) return this.breakUnit("fu-a-without-start");
    if ((fu.header & 0x1f) !== type) return this.breakUnit("fu-a-incomplete");
    fu.parts.push(p.subarray(2));
    fu.size += p.length - 2;
    if (end) {
      this.fu = undefined;
      this.addNal(fu);
    }
  }

  private addNal(nal: Nal): void {
    const type = nalHeader(nal) & 0x1f;
    if (nalSize(nal) < 2 && type !== NalType.endOfSequence && type !== NalType.endOfStream) {
      return this.breakUnit("malformed");
    }
    const u = this.unit;
    u.nals.push(nal);
    this.unitBytes += BOOKKEEPING_BYTES;
    if (isVclType(type) && !u.hasVcl) {
      u.hasVcl = true;
      // The picture's first slice has first_mb_in_slice = 0, coded ue(v) "1" (§7.3.3): its first
      // bit is set. Otherwise the head of the picture was never received (e.g. the stream was
      // joined mid-picture). Arbitrary slice order (Baseline ASO) is not supported.
      if ((secondByte(nal) & 0x80) === 0) this.breakUnit("first-slice-missing");
    }
    if (type === NalType.idr) u.hasIdr = true;
    else if (type === NalType.sps) u.hasSps = true;
    else if (type === NalType.pps) u.hasPps = true;
  }

  private breakUnit(reason: FrameDropReason): void {
    this.broken ??= reason;
    this.fu = undefined;
  }

  private close(sink: DepacketizerSink, reason?: FrameDropReason): void {
    const u = this.unit;
    this.open = false;
    this.lastClosedTimestamp = u.timestamp;
    let why = this.broken ?? reason ?? (this.fu ? "fu-a-incomplete" : undefined);
    this.fu = undefined;
    this.broken = undefined;
    if (why === "oversize") {
      u.nals.length = 0;
      return; // reported (and numbered) when it went over the bound
    }
    if (!why) {
      this.rememberParameterSets();
      why = this.unusable();
    }
    if (why) return this.drop(why, sink);
    const unit = writeAccessUnit(u, u.hasIdr ? this.sps : undefined, u.hasIdr ? this.pps : undefined);
    if (u.hasIdr) this.awaitingKeyframe = false;
    const seq = this.nextFrameSeq ?? 0;
    this.nextFrameSeq = seq + 1;
    sink.unit({
      ...unit,
      keyframe: u.hasIdr,
      rtpTimestamp: u.timestamp,
      seq,
      firstPacketArrivalMs: u.arrivalMs,
      width: this.size?.width,
      height: this.size?.height,
    });
  }

  /** Why a whole unit still cannot be emitted, if it cannot. */
  private unusable(): FrameDropReason | undefined {
    const u = this.unit;
    if (!u.hasVcl) return "no-picture";
    if (this.awaitingKeyframe && !u.hasIdr) return "awaiting-keyframe";
    if (u.hasIdr && (!this.sps || !this.pps)) return "missing-parameter-sets";
    return undefined;
  }

  private drop(reason: FrameDropReason, sink: DepacketizerSink): void {
    if (reason !== "no-picture") {
      this.awaitingKeyframe = true;
      this.pliWanted = true;
    }
    let seq: number | undefined;
    if (this.nextFrameSeq !== undefined && !UNNUMBERED.has(reason)) seq = this.nextFrameSeq++;
    sink.drop(reason, this.unit.timestamp, seq);
  }

  /** Keep the latest SPS and PPS of a whole unit, to put in front of keyframes lacking them. */
  private rememberParameterSets(): void {
    const u = this.unit;
    if (!u.hasSps && !u.hasPps) return;
    for (const nal of u.nals) {
      const type = nalHeader(nal) & 0x1f;
      if (type === NalType.sps) this.setSps(flattenNal(nal));
      else if (type === NalType.pps && !sameBytes(this.pps, nal)) this.pps = flattenNal(nal).slice();
    }
  }

  private setSps(sps: Uint8Array): void {
    if (sameBytes(this.sps, sps)) return;
    this.sps = sps.slice();
    const info = parseSps(this.sps);
    this.size = info && { width: info.width, height: info.height };
  }

  /** A PLI follows a drop or loss, at most one per `pliIntervalMs`; while the keyframe is
   * awaited every further drop asks again, so a lost PLI is repeated. */
  private pliDue(nowMs: number): boolean {
    if (!this.pliWanted) return false;
    this.pliWanted = false;
    if (!this.awaitingKeyframe || nowMs - this.lastPliMs < this.pliIntervalMs) return false;
    this.lastPliMs = nowMs;
    return true;
  }
}
