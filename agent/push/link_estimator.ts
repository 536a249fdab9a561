// What gets through the uplink, from transport-wide congestion control feedback (TWCC,
// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1), which the proxy sends for every
// ~11 packets: for each packet, received or not and when. With what this agent sent (size and
// send time per transport sequence number), a window of the last 500 ms gives:
//
// - delivery rate: bytes received / the span they were received over (what the link carries);
// - loss: packets reported lost / reported;
// - queuing delay: one-way delay (receive − send time, on unrelated clocks) above its minimum
//   over the last 10 s, i.e. how long packets now wait in some queue on the way.
//
// Receive times: each feedback's reference time (64 ms steps) is its first packet's arrival
// rounded down, and its deltas (250 µs steps) run from there (§3.1.5), so a packet arrived at
// reference + the deltas up to it. werift's own parse (`packetResults[].receivedAtMs`) rounds
// every delta to whole milliseconds, so this sums them itself. The proxy's feedback keeps all
// its deltas on one running 250 µs clock (proxy/webrtc/twcc_feedback.ts), so times from
// consecutive feedbacks fit together. A reference time far behind the last one (its 24 bits
// wrapped, a new receiver) starts the one-way delay minimum again. A result without a delta
// counts as lost.

/** One feedback packet, as parsed by werift (RtcpTransportLayerFeedback → TransportWideCC). */
export interface TwccReport {
  /** Reference time in 64 ms steps (24 bits). */
  referenceTime: number;
  /** Every packet from the base sequence number on: received, and its receive delta (µs). */
  results: readonly { sequenceNumber: number; received: boolean; delta?: number }[];
}

/** What this agent sent under a transport sequence number. */
export interface SentInfo {
  size: number;
  sentAtMs: number;
}

/** The link as seen over the last window. */
export interface LinkSample {
  /** kbit/s received; undefined until enough packets (20, over ≥ 100 ms) were reported. */
  deliveryKbps: number | undefined;
  /** kbit/s sent (of the reported packets). */
  sendKbps: number | undefined;
  /** 0…1 of the reported packets. */
  loss: number;
  /** ms, ≥ 0 (0 until 5 packets were received in the window). */
  queueDelayMs: number;
  /** Packets reported in the window. */
  packets: number;
}

interface Packet {
  sentAtMs: number;
  size: number;
  /** ms on the receiver's chained clock; undefined: lost. */
  recvMs: number | undefined;
}

const WINDOW_MS = 500;
const MIN_PACKETS = 20;
/** Fewer packets say whether they queue or get lost (keyframes only sends a burst a GOP). */
const MIN_DELAY_PACKETS = 5;
const MIN_SPAN_MS = 100;
const BASE_DELAY_MS = 10_000;
/** A reference time this far behind the last one is a new clock. */
const RESTART_US = 10_000_000;

/** Turns TWCC feedback into {@link LinkSample}s. */
export class LinkEstimator {
  #packets: Packet[] = [];
  #lastReferenceUs: number | undefined;
  /** Minimum one-way delay per second of send time, for the last 10 s. */
  #minOwd = new Map<number, number>();

  /** Takes one feedback; `sent` looks up what went out under a transport sequence number. */
  report(report: TwccReport, sent: (sequenceNumber: number) => SentInfo | undefined): void {
    let recvUs = report.referenceTime * 64_000;
    if (this.#lastReferenceUs !== undefined && recvUs < this.#lastReferenceUs - RESTART_US) this.#minOwd.clear(); // a new clock origin
    this.#lastReferenceUs = recvUs;
    for (const r of report.results) {
      const received = r.received && r.delta !== undefined;
      if (received) recvUs += r.delta!;
      const info = sent(r.sequenceNumber);
      if (!info) continue;
      const recvMs = received ? recvUs / 1000 : undefined;
      this.#packets.push({ sentAtMs: info.sentAtMs, size: info.size, recvMs });
      if (recvMs !== undefined) {
        const second = Math.floor(info.sentAtMs / 1000);
        const owd = recvMs - info.sentAtMs;
        this.#minOwd.set(second, Math.min(this.#minOwd.get(second) ?? Infinity, owd));
      }
    }
    const newest = this.#packets.reduce((m, p) => Math.max(m, p.sentAtMs), 0);
    this.#packets = this.#packets.filter((p) => p.sentAtMs > newest - WINDOW_MS);
    for (const second of this.#minOwd.keys()) if (second * 1000 < newest - BASE_DELAY_MS) this.#minOwd.delete(second);
  }

  /** The link over the last window of reported packets. */
  sample(): LinkSample {
    const packets = this.#packets;
    const received = packets.filter((p) => p.recvMs !== undefined);
    const loss = packets.length ? (packets.length - received.length) / packets.length : 0;
    let deliveryKbps: number | undefined;
    let sendKbps: number | undefined;
    let queueDelayMs = 0;
    if (received.length >= MIN_PACKETS) {
      const recv = received.map((p) => p.recvMs!);
      const sentAt = packets.map((p) => p.sentAtMs);
      const recvSpan = Math.max(...recv) - Math.min(...recv);
      const sendSpan = Math.max(...sentAt) - Math.min(...sentAt);
      const bytes = received.reduce((sum, p) => sum + p.size, 0);
      if (recvSpan >= MIN_SPAN_MS) deliveryKbps = (bytes * 8) / recvSpan;
      if (sendSpan >= MIN_SPAN_MS) sendKbps = (packets.reduce((sum, p) => sum + p.size, 0) * 8) / sendSpan;
    }
    if (received.length >= MIN_DELAY_PACKETS) {
      const base = Math.min(...this.#minOwd.values());
      // The newest few packets say how long the queue is now.
      const recent = received.slice(-5).map((p) => p.recvMs! - p.sentAtMs);
      queueDelayMs = Math.max(0, recent.reduce((a, b) => a + b, 0) / recent.length - base);
    }
    return { deliveryKbps, sendKbps, loss, queueDelayMs, packets: packets.length };
  }
}
