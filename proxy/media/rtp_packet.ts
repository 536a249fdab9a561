// RTP fixed header, RFC 3550 §5.1, with the header extension of §5.3.1 and padding.
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
//   |            contributing source (CSRC) identifiers             |
//   |                       (CC × 32 bits)                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  defined by profile (X=1)     |   length (32-bit words)       |  §5.3.1
//   |                        header extension                       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                            payload                            |
//   |                               +-------------------------------+
//   |                               | padding ...   | pad count (P) |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Our own parser rather than werift's `RtpPacket.deSerialize`: that one throws on a short
// buffer instead of saying what is wrong, and allocates CSRC and extension arrays for every
// packet; here a malformed packet yields a named reason the caller counts, and the payload is
// a view into the received bytes.

/** One parsed RTP packet; `payload` and `extension` are views into the original bytes. */
export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  /** 16-bit sequence number. */
  sequenceNumber: number;
  /** 32-bit media timestamp (90 kHz for video). */
  timestamp: number;
  ssrc: number;
  /** CC from the header; the CSRCs themselves are skipped (a mixer's business, not ours). */
  csrcCount: number;
  /** "defined by profile" of the header extension (0xBEDE = RFC 8285 one-byte), if X=1. */
  extensionProfile?: number;
  /** Header extension body (without its 4-byte preamble), if X=1. */
  extension?: Uint8Array;
  /** Payload with padding removed. */
  payload: Uint8Array;
  /** Padding octets removed from the end (0 when P=0). */
  paddingSize: number;
}

/** Why bytes are not an RTP packet. */
export type RtpParseError =
  | "too-short"
  | "bad-version"
  | "truncated-csrc"
  | "truncated-extension"
  | "bad-padding";

const FIXED_HEADER_SIZE = 12;

/**
 * Parse an RTP packet (RFC 3550 §5.1). Returns the reason as a string if `bytes` cannot be one:
 * shorter than the header it announces, version ≠ 2, or a padding count beyond the payload.
 */
export function parseRtpPacket(bytes: Uint8Array): RtpPacket | RtpParseError {
  if (bytes.length < FIXED_HEADER_SIZE) return "too-short";
  const b0 = bytes[0]!;
  if (b0 >> 6 !== 2) return "bad-version";
  const csrcCount = b0 & 0x0f;
  let offset = FIXED_HEADER_SIZE + csrcCount * 4;
  if (offset > bytes.length) return "truncated-csrc";
  let extensionProfile: number | undefined;
  let extension: Uint8Array | undefined;
  if (b0 & 0x10) {
    if (offset + 4 > bytes.length) return "truncated-extension";
    extensionProfile = (bytes[offset]! << 8) | bytes[offset + 1]!;
    const words = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    const end = offset + 4 + words * 4;
    if (end > bytes.length) return "truncated-extension";
    extension = bytes.subarray(offset + 4, end);
    offset = end;
  }
  let end = bytes.length;
  let paddingSize = 0;
  if (b0 & 0x20) {
    // §5.1: the last octet counts the padding octets, itself included.
    paddingSize = bytes[end - 1]!;
    if (paddingSize === 0 || end - paddingSize < offset) return "bad-padding";
    end -= paddingSize;
  }
  const b1 = bytes[1]!;
  return {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: (bytes[2]! << 8) | bytes[3]!,
    timestamp: ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0,
    ssrc: ((bytes[8]! << 24) | (bytes[9]! << 16) | (bytes[10]! << 8) | bytes[11]!) >>> 0,
    csrcCount,
    extensionProfile,
    extension,
    payload: bytes.subarray(offset, end),
    paddingSize,
  };
}

/** What `serializeRtpPacket` needs; CSRCs are written as zeros, padding as zeros + count. */
export type RtpPacketInit =
  & Pick<RtpPacket, "marker" | "payloadType" | "sequenceNumber" | "timestamp" | "ssrc" | "payload">
  & Partial<Pick<RtpPacket, "csrcCount" | "extensionProfile" | "extension" | "paddingSize">>;

/** Serialize an RTP packet (RFC 3550 §5.1); the inverse of `parseRtpPacket`, for tests and RTX. */
export function serializeRtpPacket(p: RtpPacketInit): Uint8Array {
  const csrcCount = p.csrcCount ?? 0;
  const ext = p.extension;
  if (ext && ext.length % 4 !== 0) {
    throw new RangeError(`RTP header extension length "${ext.length}" is not a multiple of 4`);
  }
  const padding = p.paddingSize ?? 0;
  const headerSize = FIXED_HEADER_SIZE + csrcCount * 4 + (ext ? 4 + ext.length : 0);
  const out = new Uint8Array(headerSize + p.payload.length + padding);
  out[0] = 0x80 | (padding ? 0x20 : 0) | (ext ? 0x10 : 0) | (csrcCount & 0x0f);
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  const view = new DataView(out.buffer);
  view.setUint16(2, p.sequenceNumber & 0xffff);
  view.setUint32(4, p.timestamp >>> 0);
  view.setUint32(8, p.ssrc >>> 0);
  let offset = FIXED_HEADER_SIZE + csrcCount * 4;
  if (ext) {
    view.setUint16(offset, p.extensionProfile ?? 0xbede);
    view.setUint16(offset + 2, ext.length / 4);
    out.set(ext, offset + 4);
    offset += 4 + ext.length;
  }
  out.set(p.payload, offset);
  if (padding) out[out.length - 1] = padding;
  return out;
}
