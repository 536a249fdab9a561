// What one WHIP session sends from a capture: one rung of a ladder pipeline (every rung's RTP
// arrives interleaved, told apart by payload type, agent/capture/pipeline.ts), and on a link
// too small even for that, keyframes only.
//
// A switch to another rung waits for that rung's keyframe, and keeps sending the old rung until
// the old rung reaches the same picture, so the receiver sees whole pictures, then the keyframe
// (meanwhile a picture of the old rung waits until the new rung has reached it too: it is sent
// only if the new rung's copy of it was no keyframe, so no picture goes out twice):
//
//   rung 0  … P7 P8 P9 | P10 …          (dropped from picture 10 on)
//   rung 2  … ·  ·  ·  | K10 P11 …      (held from K10 until rung 0 reaches picture 10)
//   sent    … P7 P8 P9   K10 P11 …      K10 is marked "switch": the publisher continues
//                                       sequence numbers and timestamps over it
//
// Keyframes only drops every picture that does not start with SPS or IDR; the first packet
// sent after a dropped picture is marked "resume" (the publisher closes the sequence gap, so
// the receiver does not NACK packets that were never sent). Leaving it waits for a keyframe.
import { rungOf } from "../capture/pipeline.ts";
import { NalType, nalType } from "../../shared/mod.ts";
import { rtpPayloadOffset } from "./gop_cache.ts";
import { startsKeyframe } from "./source_splice.ts";

/** How a packet continues the outgoing stream: as it is, or after a switch or dropped pictures. */
export type SendMark = "switch" | "resume" | undefined;

/** Counters (cumulative). */
export interface LadderSelectCounters {
  /** Switches completed (the new rung's keyframe sent). */
  switches: number;
  /** Pictures dropped because the link takes keyframes only. */
  picturesDropped: number;
  /** Packets of those pictures. */
  packetsDropped: number;
}

/** Packets of the new rung held while the old one finishes its pictures; past it, switch anyway. */
const MAX_HELD = 512;
/** Packets of the current rung held while the target rung catches up; past it, send them. */
const MAX_WAITING = 64;

type Send = (packet: Uint8Array, mark: SendMark) => void;

function timestampOf(packet: Uint8Array): number {
  return ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
}

/** True when the packet is a lone access unit delimiter (NAL type 9, as x264enc writes first). */
function isDelimiter(packet: Uint8Array): boolean {
  const offset = rtpPayloadOffset(packet);
  return offset >= 0 && offset < packet.length && nalType(packet[offset]!) === NalType.aud;
}

/** True when RTP timestamp `a` is `b` or later (RFC 3550 §5.1 wrap-around). */
function atOrAfter(a: number, b: number): boolean {
  return ((a - b) >>> 0) < 0x8000_0000;
}

/** Picks, packet by packet, what one session sends. */
export class LadderSelect {
  readonly counters: LadderSelectCounters = { switches: 0, picturesDropped: 0, packetsDropped: 0 };
  /** The rung being sent. */
  current: number;
  #target: number;
  #keyframesOnly = false;
  /** The target rung's keyframe the switch happens at, and the newest picture seen of that rung. */
  #switchTs: number | undefined;
  #targetTs: number | undefined;
  /** Target-rung packets from its keyframe on, and current-rung packets waiting for the target to catch up. */
  #held: Uint8Array[] = [];
  #waiting: Uint8Array[] = [];
  /** The current rung's picture being sent or dropped, and which. */
  #pictureTs: number | undefined;
  #dropping = false;
  #droppedSinceSent = false;

  constructor(readonly rungs: number, start = 0) {
    if (!(rungs >= 1 && start >= 0 && start < rungs)) throw new RangeError(`LadderSelect(${rungs}, ${start}): bad rung`);
    this.current = start;
    this.#target = start;
  }

  /** The rung to move to (at its next keyframe). */
  get target(): number {
    return this.#target;
  }

  set target(rung: number) {
    if (!(rung >= 0 && rung < this.rungs)) throw new RangeError(`rung ${rung} is not in 0..${this.rungs - 1}`);
    if (rung === this.#target) return;
    this.#target = rung;
    this.#switchTs = undefined;
    this.#targetTs = undefined;
    this.#held = [];
  }

  /** Send keyframes only (on) or every picture again, from the next keyframe (off). */
  get keyframesOnly(): boolean {
    return this.#keyframesOnly;
  }

  set keyframesOnly(on: boolean) {
    this.#keyframesOnly = on;
  }

  /** Takes one packet of the capture; calls `send` for each packet to send now, in order. */
  accept(packet: Uint8Array, send: Send): void {
    if (packet.length < 12) return;
    let rung = rungOf(packet);
    if (rung < 0 || rung >= this.rungs) rung = 0; // not from a ladder: a single stream
    if (this.#target === this.current && this.#waiting.length) this.#release(send); // a switch called off
    if (rung === this.current) {
      if (this.#target === this.current) return this.#forward(packet, send);
      this.#waiting.push(packet);
    } else if (rung === this.#target) {
      const ts = timestampOf(packet);
      if (this.#switchTs === undefined && startsKeyframe(packet)) this.#switchTs = ts;
      if (this.#switchTs !== undefined) this.#held.push(packet);
      if (this.#targetTs === undefined || !atOrAfter(this.#targetTs, ts)) this.#targetTs = ts;
    } else return;
    this.#drain(send);
  }

  /**
   * While a switch is pending, a packet of the current rung waits until the target rung has
   * reached its picture: had that picture been the target's keyframe, the switch happens there
   * and the current rung's copy is dropped; else it goes out. (The rungs' encoders run in their
   * own threads, so either may be a little ahead.)
   */
  #drain(send: Send): void {
    while (this.#waiting.length) {
      const ts = timestampOf(this.#waiting[0]!);
      if (this.#switchTs !== undefined && atOrAfter(ts, this.#switchTs)) return this.#complete(send);
      const caughtUp = this.#targetTs !== undefined && atOrAfter(this.#targetTs, ts);
      if (!caughtUp && this.#waiting.length <= MAX_WAITING) break; // the target rung stalled: stop waiting
      this.#forward(this.#waiting.shift()!, send);
    }
    if (this.#held.length > MAX_HELD) this.#complete(send); // the old rung stalled
  }

  #release(send: Send): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const p of waiting) this.#forward(p, send);
  }

  /** A packet of the rung being sent: out, unless keyframes only drops its picture. */
  #forward(packet: Uint8Array, send: Send): void {
    // An access unit delimiter comes before the picture's first slice (or SPS): it cannot say
    // whether the picture is a keyframe, so it follows the picture before it.
    if (isDelimiter(packet)) {
      if (!this.#keyframesOnly && !this.#dropping) return send(packet, this.#takeMark());
      this.counters.packetsDropped++;
      this.#droppedSinceSent = true;
      return;
    }
    const ts = timestampOf(packet);
    if (ts !== this.#pictureTs) {
      this.#pictureTs = ts;
      const keyframe = startsKeyframe(packet);
      if (keyframe) this.#dropping = false;
      else if (this.#keyframesOnly) this.#dropping = true;
      if (this.#dropping) this.counters.picturesDropped++;
    }
    if (this.#dropping) {
      this.counters.packetsDropped++;
      this.#droppedSinceSent = true;
      return;
    }
    send(packet, this.#takeMark());
  }

  #takeMark(): SendMark {
    const mark: SendMark = this.#droppedSinceSent ? "resume" : undefined;
    this.#droppedSinceSent = false;
    return mark;
  }

  /** The old rung reached the switch picture: send the held packets, keyframe first. */
  #complete(send: Send): void {
    const held = this.#held;
    this.current = this.#target;
    this.#switchTs = undefined;
    this.#targetTs = undefined;
    this.#held = [];
    this.#waiting = [];
    this.#pictureTs = held.length ? timestampOf(held[0]!) : undefined;
    this.#dropping = false;
    this.#droppedSinceSent = false;
    this.counters.switches++;
    held.forEach((p, i) => send(p, i === 0 ? "switch" : undefined));
  }
}
