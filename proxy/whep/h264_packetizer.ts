// H.264 access unit → RTP payloads, RFC 6184 (packetization-mode 1, non-interleaved).
//
// A NAL unit that fits goes out whole as a Single NAL Unit packet (§5.6); a larger one is cut
// into Fragmentation Units FU-A (§5.8). The RTP marker bit is set on the last packet of the
// access unit (§5.1), and every packet of one unit carries the unit's 90 kHz timestamp.
//
// FU-A payload (§5.8):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | FU indicator  |   FU header   |                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
//   |                         FU payload                            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//   FU indicator: F and NRI of the NAL unit, Type = 28
//   FU header:    S (first fragment) | E (last fragment) | R = 0 | Type of the NAL unit
//
// The NAL header octet itself is not sent in an FU-A: the receiver rebuilds it from the
// indicator and the FU header. Pure: arrays in, arrays out.
import { NalType } from "../../shared/mod.ts";

/** One RTP payload of an access unit and whether it is the unit's last (RTP marker). */
export interface H264Payload {
  payload: Uint8Array;
  marker: boolean;
}

/**
 * 1180 bytes: with the 12-byte RTP header, the 10-byte SRTP tag and IPv4/UDP headers a packet
 * stays under 1250 bytes, below the 1280-byte IPv6 minimum MTU that WebRTC stacks assume.
 */
export const DEFAULT_MAX_PAYLOAD = 1180;

const FU_HEADER_BYTES = 2;

/** NAL types never forwarded to viewers: filler data carries nothing a decoder needs (H.264 §7.4.2.7). */
function skipped(nal: Uint8Array): boolean {
  return nal.length === 0 || (nal[0]! & 0x1f) === NalType.filler;
}

/** The FU-A payloads of one NAL unit larger than `maxPayload`. */
function fragment(nal: Uint8Array, maxPayload: number, out: Uint8Array[]): void {
  const header = nal[0]!;
  const indicator = (header & 0xe0) | NalType.fuA;
  const type = header & 0x1f;
  const chunk = maxPayload - FU_HEADER_BYTES;
  for (let offset = 1; offset < nal.length; offset += chunk) {
    const end = Math.min(offset + chunk, nal.length);
    const payload = new Uint8Array(FU_HEADER_BYTES + end - offset);
    const start = offset === 1 ? 0x80 : 0;
    const last = end === nal.length ? 0x40 : 0;
    payload[0] = indicator;
    payload[1] = start | last | type;
    payload.set(nal.subarray(offset, end), FU_HEADER_BYTES);
    out.push(payload);
  }
}

/**
 * RTP payloads of the access unit made of `nals` (NAL units without start codes), in order;
 * the last one has `marker` set. Single NAL units are views, not copies.
 */
export function packetizeH264(nals: readonly Uint8Array[], maxPayload = DEFAULT_MAX_PAYLOAD): H264Payload[] {
  if (maxPayload < FU_HEADER_BYTES + 1) throw new RangeError(`maxPayload "${maxPayload}" leaves no room for an FU-A fragment`);
  const payloads: Uint8Array[] = [];
  for (const nal of nals) {
    if (skipped(nal)) continue;
    if (nal.length <= maxPayload) payloads.push(nal);
    else fragment(nal, maxPayload, payloads);
  }
  return payloads.map((payload, i) => ({ payload, marker: i === payloads.length - 1 }));
}
