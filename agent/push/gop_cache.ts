// Holds the RTP packets since the last keyframe started, so a WHIP session that connects
// mid-GOP can start with a decodable picture instead of waiting up to a keyframe interval
// (a gst-launch encoder cannot hear the proxy's PLI).
//
// H.264 RTP payload, RFC 6184 §5.2-5.8: the first byte is a NAL unit header
//
//   +---------------+
//   |0|1|2|3|4|5|6|7|
//   +-+-+-+-+-+-+-+-+
//   |F|NRI|  Type   |    Type 1-23: one NAL unit; 24: STAP-A (§5.7.1, then 16-bit size +
//   +---------------+    NAL per unit); 28: FU-A (§5.8, then an FU header S|E|R|Type).
//
// A GOP starts at an SPS (type 7, `h264parse config-interval=-1` puts SPS/PPS before every
// IDR), or at an IDR slice (type 5) that came without one: as a single NAL unit, anywhere in
// a STAP-A, or in the first fragment (S bit) of an FU-A.
//
//   STAP-A (§5.7.1): | STAP-A hdr | size (16) | NAL hdr | … | size (16) | NAL hdr | … |
//   FU-A (§5.8):     | FU indicator (F|NRI|28) | FU header S|E|R|Type | fragment … |
import { NalType, nalType } from "../../shared/mod.ts";

const startsGop = (type: number) => type === NalType.sps || type === NalType.idr;

/** NAL unit type (SPS 7 or IDR 5) that starts a GOP in this H.264 RTP payload, or 0. */
export function gopStartType(payload: Uint8Array): number {
  if (payload.length < 2) return 0;
  const type = nalType(payload[0]!);
  if (startsGop(type)) return type;
  if (type === NalType.stapA) {
    let found = 0;
    for (let at = 1; at + 2 < payload.length;) {
      const size = (payload[at]! << 8) | payload[at + 1]!;
      if (size === 0 || at + 2 + size > payload.length) break; // truncated: trust what was whole
      const inner = nalType(payload[at + 2]!);
      if (inner === NalType.sps) return inner;
      if (inner === NalType.idr) found = inner;
      at += 2 + size;
    }
    return found;
  }
  if (type === NalType.fuA) {
    const fu = payload[1]!;
    return fu & 0x80 && startsGop(fu & 0x1f) ? fu & 0x1f : 0; // S bit, original type
  }
  return 0;
}

/** Offset of the payload in an RTP packet (RFC 3550 §5.1, §5.3.1), or -1 if malformed. */
export function rtpPayloadOffset(packet: Uint8Array): number {
  if (packet.length < 12) return -1;
  let offset = 12 + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) {
    if (packet.length < offset + 4) return -1;
    offset += 4 + ((packet[offset + 2]! << 8) | packet[offset + 3]!) * 4;
  }
  return offset <= packet.length ? offset : -1;
}

/** Options of {@link GopCache}; each field documents its default. */
export interface GopCacheOptions {
  /** Packets held at most; a longer GOP is dropped whole (and counted). Default 2048. */
  maxPackets?: number;
}

/** The packets of the current GOP, bounded. */
export class GopCache {
  private packets: Uint8Array[] = [];
  /** RTP timestamp of the picture that started the held GOP. */
  private gopTimestamp = -1;
  private readonly maxPackets: number;
  /** GOPs too long to hold, dropped. */
  overflows = 0;

  constructor(options: GopCacheOptions = {}) {
    this.maxPackets = options.maxPackets ?? 2048;
  }

  /** Remembers `packet`; a GOP start replaces what was held. */
  push(packet: Uint8Array): void {
    const offset = rtpPayloadOffset(packet);
    const start = offset < 0 ? 0 : gopStartType(packet.subarray(offset));
    if (start !== 0) {
      const timestamp = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
      // SPS/PPS and every slice of one IDR picture share its timestamp (RFC 6184 §5.1).
      if (timestamp !== this.gopTimestamp || this.packets.length === 0) {
        this.packets = [];
        this.gopTimestamp = timestamp;
      }
    } else if (this.packets.length === 0) {
      return; // mid-GOP and nothing held: useless alone
    }
    if (this.packets.length >= this.maxPackets) {
      this.overflows++;
      this.packets = [];
      return;
    }
    this.packets.push(packet);
  }

  /** The held packets, oldest first; the cache is emptied. */
  take(): Uint8Array[] {
    const out = this.packets;
    this.packets = [];
    return out;
  }

  /** Packets held now. */
  get size(): number {
    return this.packets.length;
  }
}
