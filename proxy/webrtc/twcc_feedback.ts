/**
 * Transport-wide congestion control feedback, the receiver's half
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01): a pure processor, arrivals of
 * transport-wide sequence numbers (§2) in, RTCP transport-cc feedback packets (§3.1) out.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |V=2|P|  FMT=15 |    PT=205     |           length              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     SSRC of packet sender                     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      SSRC of media source                     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |      base sequence number     |      packet status count      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 reference time                | fb pkt. count |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0| S |       run length        |  recv delta   |  recv delta   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   .                               |  padding (0)  | padding count |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Every feedback is one run-length chunk (§3.1.3): a run of received packets, each with a
 * one-octet recv delta (§3.1.5: 250 µs units, 0 to 63.75 ms), or a run of lost ones. A packet
 * whose delta would not fit one octet (64 ms or more after the one before, or before it) starts
 * the next feedback, whose reference time then holds it. One chunk because werift's parser
 * (0.25.2, `TransportWideCC.packetResults`) numbers the results of each chunk from the base
 * sequence number again: a second chunk would be credited to the wrong packets at a werift
 * sender such as the agent. libwebrtc reads any chunk layout.
 *
 * Times: the reference time (§3.1, 64 ms units, 24 bits) is the run's first arrival rounded
 * down, and every delta is taken on one running 250 µs clock from there, so arrival times read
 * back from consecutive feedbacks fit together without drift (at most 250 µs early each).
 * Padding to 32 bits sets the P bit and counts itself in the last octet (RFC 3550 §6.4.1), as
 * libwebrtc pads its feedback.
 *
 * A feedback goes out once its run is complete (a later packet shows where it ends), holds
 * `maxPackets`, or its first packet has waited `maxWaitUs` when another arrives: no timer. A
 * missing packet is reported lost once the packet after it has waited `reorderUs` (it may only
 * be late); if it still comes, or a packet comes twice, that is counted (late, duplicates) and
 * not reported again.
 */

const PT_RTPFB = 205;
const FMT_TRANSPORT_CC = 15;
/** §3.1.3: status symbols of a run-length chunk. */
const NOT_RECEIVED = 0;
const RECEIVED_SMALL_DELTA = 1;
/** A run-length chunk's 13-bit run length. */
const MAX_RUN = 0x1fff;
const DELTA_US = 250;
const REFERENCE_US = 64_000;
const TICKS_PER_REFERENCE = REFERENCE_US / DELTA_US;

/** Options of {@link TwccFeedback}; each documents its default. */
export interface TwccFeedbackOptions {
  /** SSRC of the packet sender (the receiver's RTCP SSRC). */
  senderSsrc: number;
  /** SSRC of the media source reported on. */
  mediaSsrc: number;
  /** Packets in one feedback at most. Default 11 (as werift's own receiver), at most 8191. */
  maxPackets?: number;
  /** A run whose first packet waited this long goes out with the next arrival. Default 100 000 µs. */
  maxWaitUs?: number;
  /** A missing packet is lost once the packet after it waited this long. Default 10 000 µs. */
  reorderUs?: number;
}

/** What one {@link TwccFeedback} has done (cumulative). */
export interface TwccFeedbackCounters {
  feedbacks: number;
  reportedReceived: number;
  reportedLost: number;
  /** Arrivals of a sequence number already reported (lost, or received). */
  late: number;
  duplicates: number;
}

/** The arrivals of one media source's transport-wide sequence numbers, and the feedback made of them. */
export class TwccFeedback {
  readonly counters: TwccFeedbackCounters = { feedbacks: 0, reportedReceived: 0, reportedLost: 0, late: 0, duplicates: 0 };
  private readonly maxPackets: number;
  private readonly maxWaitUs: number;
  private readonly reorderUs: number;
  /** Unwrapped sequence numbers (16 bits extended) → arrival, from `next` on. */
  private readonly arrivals = new Map<number, number>();
  /** The first sequence number not reported yet, and the highest that arrived (unwrapped). */
  private next: number | undefined;
  private highest = 0;
  private lastArrivalUs = 0;
  private fbCount = 0;

  constructor(private readonly options: TwccFeedbackOptions) {
    this.maxPackets = Math.min(Math.max(1, options.maxPackets ?? 11), MAX_RUN);
    this.maxWaitUs = options.maxWaitUs ?? 100_000;
    this.reorderUs = options.reorderUs ?? 10_000;
  }

  /** Books sequence number `seq` (16 bits) as arrived at `atUs` (µs, any monotonic clock); returns the feedback now due. */
  add(seq: number, atUs: number): Uint8Array[] {
    const u = this.unwrap(seq & 0xffff);
    if (this.next === undefined) this.next = u;
    if (u < this.next) {
      this.counters.late++;
      return [];
    }
    if (this.arrivals.has(u)) {
      this.counters.duplicates++;
      return [];
    }
    this.arrivals.set(u, atUs);
    if (u > this.highest) this.highest = u;
    this.lastArrivalUs = atUs;
    const out: Uint8Array[] = [];
    for (let packet = this.nextFeedback(atUs); packet; packet = this.nextFeedback(atUs)) out.push(packet);
    return out;
  }

  /** Extends `seq` to the number nearest the highest one seen (RFC 3550 Appendix A.1 style). */
  private unwrap(seq: number): number {
    if (this.next === undefined) return seq + 0x10000; // one cycle up: an earlier one stays positive
    const diff = ((seq - (this.highest & 0xffff)) & 0xffff);
    return this.highest + (diff >= 0x8000 ? diff - 0x10000 : diff);
  }

  /** The feedback of the run starting at `next` if it is due, advancing `next` past it. */
  private nextFeedback(nowUs: number): Uint8Array | undefined {
    const base = this.next!;
    if (base > this.highest) return undefined;
    const first = this.arrivals.get(base);
    if (first === undefined) {
      // Lost up to the next arrival (one exists: `highest` arrived), once that has waited.
      let end = base + 1;
      while (!this.arrivals.has(end) && end - base < MAX_RUN) end++;
      const after = this.arrivals.get(end);
      if (after !== undefined && nowUs - after < this.reorderUs) return undefined;
      this.next = end;
      this.counters.reportedLost += end - base;
      return this.packet(base, end - base, Math.floor(this.lastArrivalUs / REFERENCE_US), NOT_RECEIVED, []);
    }
    const reference = Math.floor(first / REFERENCE_US);
    let previous = reference * TICKS_PER_REFERENCE;
    const deltas: number[] = [];
    let seq = base;
    while (seq <= this.highest && deltas.length < this.maxPackets) {
      const at = this.arrivals.get(seq);
      if (at === undefined) break;
      const ticks = Math.floor(at / DELTA_US);
      const delta = ticks - previous;
      if (delta < 0 || delta > 0xff) break;
      deltas.push(delta);
      previous = ticks;
      seq++;
    }
    const complete = deltas.length === this.maxPackets || seq <= this.highest;
    if (!complete && nowUs - first < this.maxWaitUs) return undefined;
    for (let s = base; s < seq; s++) this.arrivals.delete(s);
    this.next = seq;
    this.counters.reportedReceived += deltas.length;
    return this.packet(base, deltas.length, reference, RECEIVED_SMALL_DELTA, deltas);
  }

  /** One transport-cc packet of a single run-length chunk (see the file comment). */
  private packet(base: number, count: number, reference: number, status: number, deltas: number[]): Uint8Array {
    const size = 22 + deltas.length;
    const padded = (size + 3) & ~3;
    const pad = padded - size;
    const out = new Uint8Array(padded);
    const view = new DataView(out.buffer);
    out[0] = 0x80 | (pad > 0 ? 0x20 : 0) | FMT_TRANSPORT_CC;
    out[1] = PT_RTPFB;
    view.setUint16(2, padded / 4 - 1);
    view.setUint32(4, this.options.senderSsrc >>> 0);
    view.setUint32(8, this.options.mediaSsrc >>> 0);
    view.setUint16(12, base & 0xffff);
    view.setUint16(14, count);
    view.setUint32(16, ((reference & 0xffffff) << 8 | this.fbCount) >>> 0);
    view.setUint16(20, (status << 13) | count);
    out.set(deltas, 22);
    if (pad > 0) out[padded - 1] = pad;
    this.fbCount = (this.fbCount + 1) & 0xff;
    this.counters.feedbacks++;
    return out;
  }
}
