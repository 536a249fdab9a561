// RTP retransmission payload format, RFC 4588 §4 (session-multiplexed by SSRC, §5).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                         RTP Header                            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |            OSN                |                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
//   |                  Original RTP Packet Payload                  |
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The RTX packet keeps the original timestamp and marker (§4); its own sequence number and SSRC
// belong to the RTX stream, its payload type maps to the original one through `apt` (§8.1).

import type { RtpPacket } from "./rtp_packet.ts";

/** How RTX streams map back to the media they repair (from the SDP `apt` and `ssrc-group:FID`). */
export interface RtxMap {
  /** RTX payload type → original payload type (`a=fmtp:<rtx pt> apt=<pt>`). */
  payloadTypes: ReadonlyMap<number, number>;
  /** RTX SSRC → original SSRC (`a=ssrc-group:FID <ssrc> <rtx ssrc>`); unknown ones use the fallback. */
  ssrcs?: ReadonlyMap<number, number>;
}

/** Why an RTX packet yields no original packet. */
export type RtxUnwrapError = "not-rtx" | "rtx-padding";

/** True when `packet` travels on an RTX payload type of `map`. */
export function isRtx(packet: RtpPacket, map: RtxMap): boolean {
  return map.payloadTypes.has(packet.payloadType);
}

/**
 * Recover the original packet from an RTX packet (RFC 4588 §4): sequence number from the OSN,
 * payload type through `apt`, SSRC through the FID pairing (else `fallbackSsrc`). A payload of
 * two octets or less carries no media (senders use such packets as padding for bandwidth
 * probing) and yields "rtx-padding".
 */
export function unwrapRtx(
  packet: RtpPacket,
  map: RtxMap,
  fallbackSsrc?: number,
): RtpPacket | RtxUnwrapError {
  const payloadType = map.payloadTypes.get(packet.payloadType);
  if (payloadType === undefined) return "not-rtx";
  if (packet.payload.length <= 2) return "rtx-padding";
  return {
    marker: packet.marker,
    payloadType,
    sequenceNumber: (packet.payload[0]! << 8) | packet.payload[1]!,
    timestamp: packet.timestamp,
    ssrc: map.ssrcs?.get(packet.ssrc) ?? fallbackSsrc ?? packet.ssrc,
    csrcCount: packet.csrcCount,
    extensionProfile: packet.extensionProfile,
    extension: packet.extension,
    payload: packet.payload.subarray(2),
    paddingSize: 0,
  };
}

/** Wrap `packet` for retransmission (RFC 4588 §4): the inverse of `unwrapRtx`. */
export function wrapRtx(
  packet: RtpPacket,
  rtx: { payloadType: number; ssrc: number; sequenceNumber: number },
): RtpPacket {
  const payload = new Uint8Array(2 + packet.payload.length);
  payload[0] = packet.sequenceNumber >> 8;
  payload[1] = packet.sequenceNumber & 0xff;
  payload.set(packet.payload, 2);
  return { ...packet, ...rtx, payload, paddingSize: 0 };
}
