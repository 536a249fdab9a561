// The sender's side of transport-wide congestion control feedback for push/link_estimator.ts:
// what was sent under each transport sequence number, and each feedback read into a TwccReport.
import type { TransportWideCC } from "werift";
import type { SentInfo, TwccReport } from "./link_estimator.ts";

/** Transport sequence numbers remembered (a few seconds at 4 Mbit/s). */
const SENT_LOG = 4096;
/** SRTP's authentication tag (10 bytes, AES_CM_128_HMAC_SHA1_80) and the transport-cc extension (8). */
const SRTP_OVERHEAD = 18;

/**
 * Size and send time per transport-wide sequence number, the last SENT_LOG of them. werift's own
 * log (senderBWE.sentInfos) is keyed after an await, by a number later packets have moved on.
 */
export class SentLog {
  readonly #log = new Map<number, SentInfo>();

  /** Books RTP packet of `rtpBytes` sent under `seq` at `nowMs` (SRTP and extension bytes added). */
  add(seq: number, rtpBytes: number, nowMs: number): void {
    this.#log.set(seq, { size: rtpBytes + SRTP_OVERHEAD, sentAtMs: nowMs });
    this.#log.delete((seq - SENT_LOG) & 0xffff);
  }

  get(seq: number): SentInfo | undefined {
    return this.#log.get(seq);
  }
}

/**
 * One feedback as its packets' statuses and deltas, read from werift's parsed chunks: werift's
 * own `packetResults` adds a phantom received result after each run, numbers every chunk from
 * the base sequence number again, leaves status-vector chunks out and does not wrap at 65536.
 * Statuses 1 and 2 (small and large delta) are received (draft-holmer §3.1.1).
 */
export function twccReport(feedback: TransportWideCC): TwccReport {
  const statuses: number[] = [];
  for (const chunk of feedback.packetChunks as unknown as { packetStatus?: number; runLength?: number; symbolList?: number[] }[]) {
    if (chunk.symbolList) statuses.push(...chunk.symbolList);
    else for (let i = 0; i < (chunk.runLength ?? 0); i++) statuses.push(chunk.packetStatus ?? 0);
  }
  const deltas = feedback.recvDeltas;
  let d = 0;
  const results = statuses.slice(0, feedback.packetStatusCount).map((status, i) => {
    const received = status === 1 || status === 2;
    const delta = received ? deltas[d++]?.delta : undefined;
    return { sequenceNumber: (feedback.baseSequenceNumber + i) & 0xffff, received: received && delta !== undefined, delta };
  });
  return { referenceTime: feedback.referenceTime, results };
}
