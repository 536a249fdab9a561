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
// Receive times: werift's own parse (`packetResults[].receivedAtMs`) truncates every delta to
// whole milliseconds, so this sums the deltas itself. A werift receiver (the proxy) gives each
// feedback's first delta from the previous feedback's last packet, so feedbacks chain; but it
// floors every delta to 250 µs, so the chain runs slow (≤ 250 µs a packet). The reference time
// (the previous feedback's last packet, floored to 64 ms) is a lower bound that never drifts:
// each feedback starts at the later of the two, which keeps the error under 64 ms. A reference
// time far behind the chain (a 24-bit wrap, a new receiver) restarts the chain, and the
// one-way delay minimum with it. werift's receiver reports a lost packet as received without
// a delta (its run-length chunks skip over missing numbers), so a result without a delta
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
/** A reference time this far behind the chained clock starts a new one. */
const RESTART_US = 10_000_000;

/** Turns TWCC feedback into {@link LinkSample}s. */
export class LinkEstimator {
  #packets: Packet[] = [];
  #recvUs: number | undefined;
  /** Minimum one-way delay per second of send time, for the last 10 s. */
  #minOwd = new Map<number, number>();

  /** Takes one feedback; `sent` looks up what went out under a transport sequence number. */
  report(report: TwccReport, sent: (sequenceNumber: number) => SentInfo | undefined): void {
    const anchorUs = report.referenceTime * 64_000;
    if (this.#recvUs === undefined || anchorUs < this.#recvUs - RESTART_US) {
      this.#recvUs = anchorUs;
      this.#minOwd.clear(); // a new clock origin
    } else this.#recvUs = Math.max(this.#recvUs, anchorUs);
    for (const r of report.results) {
      const received = r.received && r.delta !== undefined;
      if (received) this.#recvUs += r.delta!;
      const info = sent(r.sequenceNumber);
      if (!info) continue;
      const recvMs = received ? this.#recvUs / 1000 : undefined;
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
