/**
 * Generic NACK feedback (RFC 4585 §6.2.1) for a list of sequence numbers, cut into packets of
 * at most 64 numbers each. One NACK packet's FCI grows by 4 bytes per 17-number run (PID +
 * BLP), so 64 scattered numbers stay near 270 bytes; each packet is sent on its own, well
 * under any MTU. A poll that repeats the NACKs of several gaps may ask for more than 64 at once.
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            PID                |             BLP               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import { GenericNack, RtcpTransportLayerFeedback } from "werift";

/** At most this many sequence numbers per NACK packet. */
export const MAX_NACK_SEQS = 64;

/** NACK packets asking `mediaSsrc` for `seqs` (16-bit, in the order given), 64 a packet. */
export function nackPackets(seqs: readonly number[], senderSsrc: number, mediaSsrc: number): RtcpTransportLayerFeedback[] {
  const out: RtcpTransportLayerFeedback[] = [];
  for (let i = 0; i < seqs.length; i += MAX_NACK_SEQS) {
    const lost = seqs.slice(i, i + MAX_NACK_SEQS).map((s) => s & 0xffff);
    out.push(new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc, mediaSourceSsrc: mediaSsrc, lost }) }));
  }
  return out;
}
