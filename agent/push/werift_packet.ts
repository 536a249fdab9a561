// RTP fixed header, RFC 3550 §5.1:
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           timestamp                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           synchronization source (SSRC) identifier            |
//   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//
// werift's sender parses every Buffer it is given with `RtpHeader.deSerialize`, which reads
// the bit fields through strings (`toString(2)`, split, join): 17 % of the agent's CPU in a
// profile at 4 Mbit/s. gst's rtph264pay writes the plain 12-byte header (no CSRC, no
// extension, no padding); for those we build werift's packet object directly.
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket } from "werift";

/**
 * `bytes` as werift's `RtpPacket` when the header is the plain 12-byte one, else as a Buffer
 * for werift to parse itself. No copy: the payload is a view into `bytes`.
 */
export function weriftPacket(bytes: Uint8Array): RtpPacket | Buffer {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const b0 = bytes[0]!;
  if ((b0 & 0x3f) !== 0 || b0 >> 6 !== 2 || bytes.length < 12) return buffer; // P, X or CC set
  const header = new RtpHeader({
    version: 2,
    marker: (bytes[1]! & 0x80) !== 0,
    payloadType: bytes[1]! & 0x7f,
    sequenceNumber: (bytes[2]! << 8) | bytes[3]!,
    timestamp: ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0,
    ssrc: ((bytes[8]! << 24) | (bytes[9]! << 16) | (bytes[10]! << 8) | bytes[11]!) >>> 0,
    payloadOffset: 12,
  });
  return new RtpPacket(header, buffer.subarray(12));
}
