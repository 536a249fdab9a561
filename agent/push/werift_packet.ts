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
// extension, no padding); for those we build werift's packet object directly. So too for the
// agent's own capture stamp (agent/push/capture_stamp.ts: an RFC 8285 §4.2 one-byte extension
// block), whose id is rewritten to the negotiated one, or which is left out when the session
// negotiated no abs-capture-time (RFC 8285 §4.1: only negotiated ids may be sent).
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket } from "werift";
import { CAPTURE_STAMP_ID, ONE_BYTE_PROFILE } from "./capture_stamp.ts";

/**
 * `bytes` as werift's `RtpPacket` when the header is the plain 12-byte one or carries only the
 * agent's capture stamp, else as a Buffer for werift to parse itself. `stampId` is the
 * negotiated abs-capture-time id (undefined: none, the stamp is dropped). No copy: the payload
 * and the extension are views into `bytes`.
 */
export function weriftPacket(bytes: Uint8Array, stampId?: number): RtpPacket | Buffer {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const b0 = bytes[0]!;
  if (b0 >> 6 !== 2 || bytes.length < 12) return buffer;
  if ((b0 & 0x2f) !== 0) return buffer; // P or CC set
  let payloadOffset = 12;
  let extensions: { id: number; payload: Buffer }[] = [];
  if (b0 & 0x10) {
    const stamp = stampOf(buffer);
    if (!stamp) return buffer; // someone else's extension: werift parses it
    payloadOffset = stamp.end;
    if (stampId !== undefined) extensions = [{ id: stampId, payload: stamp.payload }];
  }
  const header = new RtpHeader({
    version: 2,
    marker: (bytes[1]! & 0x80) !== 0,
    payloadType: bytes[1]! & 0x7f,
    sequenceNumber: (bytes[2]! << 8) | bytes[3]!,
    timestamp: ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0,
    ssrc: ((bytes[8]! << 24) | (bytes[9]! << 16) | (bytes[10]! << 8) | bytes[11]!) >>> 0,
    payloadOffset,
    extensions,
  });
  return new RtpPacket(header, buffer.subarray(payloadOffset));
}

/** The capture stamp's payload and the payload offset, when the extension block is exactly one. */
function stampOf(buffer: Buffer): { payload: Buffer; end: number } | undefined {
  if (buffer.length < 16 || buffer.readUInt16BE(12) !== ONE_BYTE_PROFILE) return undefined;
  const end = 16 + buffer.readUInt16BE(14) * 4;
  if (end > buffer.length || end < 17) return undefined;
  const element = buffer[16]!;
  const length = (element & 0x0f) + 1;
  if (element >> 4 !== CAPTURE_STAMP_ID || 17 + length > end) return undefined;
  for (let at = 17 + length; at < end; at++) if (buffer[at] !== 0) return undefined; // only padding may follow
  return { payload: buffer.subarray(17, 17 + length), end };
}
