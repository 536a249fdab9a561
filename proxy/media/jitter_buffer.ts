// A small reorder buffer keyed by RTP sequence number (RFC 3550 §5.1, wrap-around per
// Appendix A.1), with the bookkeeping generic NACK needs (RFC 4585 §6.2.1).
//
// Packets leave in sequence order as soon as they are contiguous. A missing sequence number is
// NACKed when the gap appears and again every `nackIntervalMs` (up to `maxNacks` times); after
// `lossWaitMs` it is declared lost and the packets behind it move on. A stream may also start
// with a lead-in: the caller says the first packet received may not be the first one sent (its
// head was lost), and the few numbers before it are NACKed like a gap; those the sender never
// had are given up quietly, not counted lost. Time is an argument,
// never read from a clock, and there are no timers: the owner calls `poll()` when `wakeAtMs`
// says so. Every packet that is not kept is counted by reason.
//
// A gap wider than `maxNackBurst` is not NACKed at all: it is given up at once (declared lost
// as soon as the numbers before it are through) and the loss asks for a keyframe. Why not NACK
// its newest numbers instead: any loss makes the depacketizer wait for the next IDR, so a
// partly repaired gap is still a broken picture, while a retransmission burst of that size
// lands on a path that just dropped ~that many packets (congestion, a stall) and the packets
// behind the gap would wait `lossWaitMs` for nothing. A keyframe is one small request and
// repairs everything; libwebrtc's NackRequester likewise clears its list and asks for a
// keyframe when a gap outgrows it.
//
//        released ◄── nextSeq ........................ highest ◄── arrivals
//   (history for dups)   [held | missing | held | held | missing]   (≤ capacity)

/** Tunables; each field documents its default. */
export interface JitterBufferOptions {
  /** Sequence numbers held or awaited at most (rounded up to a power of two). Default 1024. */
  capacity?: number;
  /** How long a missing packet is awaited before it is declared lost. Default 250 ms. */
  lossWaitMs?: number;
  /** Delay before a missing packet is NACKed again. Default 40 ms. */
  nackIntervalMs?: number;
  /** NACKs sent per missing packet at most. Default 6. */
  maxNacks?: number;
  /** Widest gap (missing numbers in one jump) that is NACKed; a wider one is given up at
   * once (see the file comment). Default 64 (`--max-nack-burst`). */
  maxNackBurst?: number;
  /** Consecutive in-order packets far outside the window that restart the buffer on them
   * (a sender that restarted its sequence). Default 4. */
  resyncAfter?: number;
}

/** Default `lossWaitMs`: 6 NACKs 40 ms apart fit, so a packet is given up only when six
 * request/retransmission round trips in a row failed (≈ 1e-6 of lost packets at 5 % loss). */
export const DEFAULT_LOSS_WAIT_MS = 250;
/** Default `maxNacks`. */
export const DEFAULT_MAX_NACKS = 6;
/** Default `maxNackBurst`: one RTCP NACK packet's worth (proxy/ingest/nack_packets.ts puts 64 in each). */
export const DEFAULT_MAX_NACK_BURST = 64;

/** Receives what the buffer decides; called synchronously from `push` and `poll`. */
export interface JitterSink<T> {
  /** `item` leaves in order; `seq` is the extended (wrap-free) sequence number. */
  release(item: T, seq: number, arrivalMs: number): void;
  /** Extended sequence number `seq` was given up on. */
  lost(seq: number): void;
  /** 16-bit sequence number `seq` should be NACKed now. */
  nack(seq: number): void;
}

/** What happened to a pushed packet. */
export type JitterVerdict = "accepted" | "reordered" | "duplicate" | "late" | "out-of-window";

/** Cumulative figures; `accepted` (incl. `reordered`) = released + held. */
export interface JitterCounters {
  accepted: number;
  reordered: number;
  /** Reordered packets that filled a gap already NACKed: retransmitted (RTX) or late. */
  recovered: number;
  duplicates: number;
  late: number;
  outOfWindow: number;
  released: number;
  lost: number;
  nacks: number;
  resyncs: number;
  /** Lead-in numbers NACKed at the start and given up: the sender never had them. */
  leadInUnused: number;
  /** Gaps wider than `maxNackBurst`, given up without NACKs. */
  nackBurstsCapped: number;
}

const MISSING = 0;
const HELD = 1;
const RELEASED = 2;
const LOST = 3;
/** A lead-in number before the stream's first packet: awaited like MISSING, given up quietly. */
const LEAD = 4;
/** Inside a gap too wide to NACK: declared lost as soon as the drain reaches it. */
const ABANDONED = 5;
/** Extended numbers start here so early reordering never goes below zero. */
const EXT_BASE = 1 << 20;

/** Reorder buffer by 16-bit RTP sequence number; see the file comment. */
export class JitterBuffer<T> {
  readonly counters: JitterCounters = {
    accepted: 0, reordered: 0, recovered: 0, duplicates: 0, late: 0, outOfWindow: 0,
    released: 0, lost: 0, nacks: 0, resyncs: 0, leadInUnused: 0, nackBurstsCapped: 0,
  };
  private readonly capacity: number;
  private readonly lossWaitMs: number;
  private readonly nackIntervalMs: number;
  private readonly maxNacks: number;
  private readonly maxNackBurst: number;
  private readonly resyncAfter: number;
  private readonly items: (T | undefined)[];
  private readonly seqs: Float64Array;
  private readonly states: Uint8Array;
  /** Arrival time (held) or time the gap was seen (missing). */
  private readonly times: Float64Array;
  private readonly nackTimes: Float64Array;
  private readonly nackCounts: Uint8Array;
  private begun = false;
  private releasedAtStart = 0;
  private nextSeq = 0;
  private highest = -1;
  private missing = 0;
  private nextRetryMs = Infinity;
  private candidate = -1;
  private candidateRun = 0;

  constructor(options: JitterBufferOptions = {}) {
    this.capacity = 2 ** Math.ceil(Math.log2(Math.max(16, options.capacity ?? 1024)));
    this.lossWaitMs = options.lossWaitMs ?? DEFAULT_LOSS_WAIT_MS;
    this.nackIntervalMs = options.nackIntervalMs ?? 40;
    this.maxNacks = options.maxNacks ?? DEFAULT_MAX_NACKS;
    this.maxNackBurst = options.maxNackBurst ?? DEFAULT_MAX_NACK_BURST;
    this.resyncAfter = options.resyncAfter ?? 4;
    this.items = new Array(this.capacity).fill(undefined);
    this.seqs = new Float64Array(this.capacity).fill(-1);
    this.states = new Uint8Array(this.capacity);
    this.times = new Float64Array(this.capacity);
    this.nackTimes = new Float64Array(this.capacity);
    this.nackCounts = new Uint8Array(this.capacity);
  }

  /** False until the first packet, and again after `reset()`. */
  get started(): boolean {
    return this.begun;
  }

  /** Packets held now (waiting behind a gap). */
  get held(): number {
    return this.counters.accepted - this.counters.released;
  }

  /** Earliest time `poll()` has something to do (a loss to declare or a NACK to repeat). */
  get wakeAtMs(): number {
    if (this.missing === 0) return Infinity;
    const slot = this.nextSeq % this.capacity;
    const lossAt = awaited(this.states[slot]!) && this.seqs[slot] === this.nextSeq
      ? this.times[slot]! + this.lossWaitMs
      : Infinity;
    return Math.min(lossAt, this.nextRetryMs);
  }

  /**
   * Offer packet `item` with 16-bit sequence number `seq`, received at `nowMs`. When it starts
   * the stream, `leadIn` numbers before it are awaited and NACKed too (its head may be lost).
   */
  push(seq: number, item: T, nowMs: number, sink: JitterSink<T>, leadIn = 0): JitterVerdict {
    if (!this.begun) this.start(EXT_BASE + (seq & 0xffff), leadIn, nowMs, sink);
    const ext = this.unwrap(seq);
    const behind = this.nextSeq - ext;
    if (behind > 0 && behind <= this.capacity) return this.pushBehind(ext);
    const ahead = ext - this.nextSeq;
    if (behind > 0 || ahead >= 2 * this.capacity) return this.pushFar(seq, item, nowMs, sink);
    // Full: give up on the oldest gaps rather than refuse what arrives now.
    if (ahead >= this.capacity) this.drainUntil(ext - this.capacity + 1, nowMs, sink);
    this.candidateRun = 0;
    const slot = ext % this.capacity;
    let verdict: JitterVerdict = "accepted";
    if (ext > this.highest) {
      const tooWide = this.maxNacks > 0 && ext - this.highest - 1 > this.maxNackBurst;
      if (tooWide) this.counters.nackBurstsCapped++;
      for (let s = this.highest + 1; s < ext; s++) {
        if (tooWide) this.abandon(s);
        else this.markMissing(s, nowMs, sink);
      }
      this.highest = ext;
    } else if (this.states[slot] === HELD && this.seqs[slot] === ext) {
      this.counters.duplicates++;
      return "duplicate";
    } else {
      if (this.states[slot] !== ABANDONED) this.missing--;
      this.counters.reordered++;
      if (this.nackCounts[slot]! > 0) this.counters.recovered++;
      verdict = "reordered";
    }
    this.hold(slot, ext, item, nowMs);
    this.drain(nowMs, sink);
    this.renack(nowMs, sink);
    return verdict;
  }

  /** Declare overdue losses, release what they held back, and repeat due NACKs. */
  poll(nowMs: number, sink: JitterSink<T>): void {
    this.drain(nowMs, sink);
    this.renack(nowMs, sink);
  }

  /** Release everything held, declaring every gap lost (end of stream or restart). */
  flush(sink: JitterSink<T>): void {
    this.drain(Infinity, sink);
  }

  /** Flush, then take the next packet as the start of a new stream; counters are kept. */
  reset(sink: JitterSink<T>): void {
    this.flush(sink);
    this.begun = false;
  }

  private start(ext: number, leadIn: number, nowMs: number, sink: JitterSink<T>): void {
    const lead = Math.max(0, Math.min(Math.floor(leadIn), this.capacity / 2));
    this.restart(ext - lead);
    for (let s = ext - lead; s < ext; s++) this.markMissing(s, nowMs, sink, LEAD);
    this.highest = ext - 1;
  }

  private restart(ext: number): void {
    this.begun = true;
    this.releasedAtStart = this.counters.released;
    this.nextSeq = ext;
    this.highest = ext - 1;
    this.missing = 0;
    this.nextRetryMs = Infinity;
    this.candidateRun = 0;
    this.seqs.fill(-1);
    this.items.fill(undefined);
  }

  /** Nearest extended number to `highest` with these low 16 bits (RFC 3550 Appendix A.1). */
  private unwrap(seq: number): number {
    const delta = (((seq & 0xffff) - (this.highest % 0x10000) + 0x18000) % 0x10000) - 0x8000;
    return this.highest + delta;
  }

  private pushBehind(ext: number): JitterVerdict {
    const slot = ext % this.capacity;
    if (this.seqs[slot] === ext && this.states[slot] === RELEASED) {
      this.counters.duplicates++;
      return "duplicate";
    }
    this.counters.late++;
    return "late";
  }

  /** Far outside the window: noise, or a sender that restarted its numbering. */
  private pushFar(seq: number, item: T, nowMs: number, sink: JitterSink<T>): JitterVerdict {
    const run = this.candidateRun > 0 && (seq & 0xffff) === ((this.candidate + 1) & 0xffff);
    this.candidateRun = run ? this.candidateRun + 1 : 1;
    this.candidate = seq & 0xffff;
    if (this.candidateRun < this.resyncAfter) {
      this.counters.outOfWindow++;
      return "out-of-window";
    }
    // The earlier packets of the run were counted out-of-window; restart on this one, past a
    // visible gap so the depacketizer treats the switch as a discontinuity.
    this.flush(sink);
    const next = this.highest + 2;
    this.restart(next + (((seq & 0xffff) - (next % 0x10000) + 0x10000) % 0x10000));
    this.counters.resyncs++;
    this.highest = this.nextSeq;
    this.hold(this.nextSeq % this.capacity, this.nextSeq, item, nowMs);
    this.drain(nowMs, sink);
    return "accepted";
  }

  private markMissing(ext: number, nowMs: number, sink: JitterSink<T>, state = MISSING): void {
    const slot = ext % this.capacity;
    this.items[slot] = undefined;
    this.seqs[slot] = ext;
    this.states[slot] = state;
    this.times[slot] = nowMs;
    this.missing++;
    this.nackCounts[slot] = 0;
    if (this.maxNacks > 0) {
      this.nackTimes[slot] = nowMs;
      this.nackCounts[slot] = 1;
      this.counters.nacks++;
      sink.nack(ext & 0xffff);
      this.nextRetryMs = Math.min(this.nextRetryMs, nowMs + this.nackIntervalMs);
    }
  }

  /** A number of a gap too wide to NACK: not awaited, lost when the drain gets to it. */
  private abandon(ext: number): void {
    const slot = ext % this.capacity;
    this.items[slot] = undefined;
    this.seqs[slot] = ext;
    this.states[slot] = ABANDONED;
    this.nackCounts[slot] = 0;
  }

  private hold(slot: number, ext: number, item: T, nowMs: number): void {
    this.items[slot] = item;
    this.seqs[slot] = ext;
    this.states[slot] = HELD;
    this.times[slot] = nowMs;
    this.counters.accepted++;
  }

  private drain(nowMs: number, sink: JitterSink<T>): void {
    this.drainUntil(-Infinity, nowMs, sink);
  }

  /**
   * Release held packets in order; declare a missing one lost once it is overdue at `nowMs`,
   * or at once while it is below `limit` (the buffer must make room).
   */
  private drainUntil(limit: number, nowMs: number, sink: JitterSink<T>): void {
    while (this.nextSeq <= this.highest || this.nextSeq < limit) {
      const ext = this.nextSeq;
      const slot = ext % this.capacity;
      const known = ext <= this.highest;
      if (known && this.states[slot] === HELD) {
        const item = this.items[slot] as T;
        this.items[slot] = undefined;
        this.states[slot] = RELEASED;
        this.nextSeq++;
        this.counters.released++;
        sink.release(item, ext, this.times[slot]!);
        continue;
      }
      const abandoned = known && this.states[slot] === ABANDONED;
      if (!abandoned && ext >= limit && nowMs - this.times[slot]! < this.lossWaitMs) break;
      if (known && !abandoned) this.missing--;
      // Before anything was released the sender may never have had it; after, it is a loss.
      const leadIn = known && this.states[slot] === LEAD && this.counters.released === this.releasedAtStart;
      this.seqs[slot] = ext;
      this.states[slot] = LOST;
      this.items[slot] = undefined;
      this.nextSeq++;
      if (leadIn) {
        this.counters.leadInUnused++;
        continue;
      }
      this.counters.lost++;
      sink.lost(ext);
    }
    if (this.highest < this.nextSeq - 1) this.highest = this.nextSeq - 1;
  }

  private renack(nowMs: number, sink: JitterSink<T>): void {
    if (this.missing === 0 || nowMs < this.nextRetryMs) return;
    this.nextRetryMs = Infinity;
    for (let ext = this.nextSeq; ext <= this.highest; ext++) {
      const slot = ext % this.capacity;
      if (!awaited(this.states[slot]!) || this.nackCounts[slot]! >= this.maxNacks) continue;
      if (nowMs - this.nackTimes[slot]! >= this.nackIntervalMs) {
        this.nackTimes[slot] = nowMs;
        this.nackCounts[slot]!++;
        this.counters.nacks++;
        sink.nack(ext & 0xffff);
      }
      if (this.nackCounts[slot]! < this.maxNacks) {
        this.nextRetryMs = Math.min(this.nextRetryMs, this.nackTimes[slot]! + this.nackIntervalMs);
      }
    }
  }
}

/** A slot whose packet is still awaited (and NACKed). */
function awaited(state: number): boolean {
  return state === MISSING || state === LEAD;
}
