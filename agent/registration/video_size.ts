// The picture size a stream really has, read from its SPS. Sources that are not encoded here
// (udp, rtsp, file, a camera's own H.264) ignore --width/--height, so the registered
// `videoInfo` holds the flag defaults until the first SPS says otherwise; the flow then sends
// the corrected metadata with its next keep-alive.
//
// Where the SPS sits in H.264 RTP (RFC 6184 §5.6, §5.7.1); `h264parse config-interval=-1`
// puts SPS and PPS before every IDR, and `rtph264pay` aggregates them into a STAP-A:
//
//   single NAL unit: | NAL hdr (type 7) | SPS … |
//   STAP-A:          | STAP-A hdr (24) | size (16) | NAL hdr (7) | SPS … | size (16) | … |
//
// An SPS fragmented into FU-A (§5.8) would need more than one packet: SPS are tens of bytes
// and rtph264pay's MTU is 1400, so that is not looked for.
import { NalType, nalType, parseSps } from "../../shared/mod.ts";
import { rtpPayloadOffset } from "../push/gop_cache.ts";

/** Width and height in pixels, as displayed (after the SPS's cropping). */
export interface VideoSize {
  width: number;
  height: number;
}

/** The SPS NAL unit (header byte included) an RTP/H.264 packet carries, or undefined. */
export function spsOfRtp(packet: Uint8Array): Uint8Array | undefined {
  const offset = rtpPayloadOffset(packet);
  if (offset < 0 || offset >= packet.length) return undefined;
  const payload = packet.subarray(offset);
  const type = nalType(payload[0]!);
  if (type === NalType.sps) return payload;
  if (type !== NalType.stapA) return undefined;
  for (let at = 1; at + 2 < payload.length;) {
    const size = (payload[at]! << 8) | payload[at + 1]!;
    if (size === 0 || at + 2 + size > payload.length) return undefined; // truncated aggregate
    if (nalType(payload[at + 2]!) === NalType.sps) return payload.subarray(at + 2, at + 2 + size);
    at += 2 + size;
  }
  return undefined;
}

/** Follows the SPS of one stream; pure (no I/O), cheap enough to see every packet. */
export class VideoSizeWatch {
  #size: VideoSize | undefined;
  #lastSps: Uint8Array | undefined;

  /** The size of the latest SPS seen, or undefined before the first one. */
  get current(): VideoSize | undefined {
    return this.#size;
  }

  /** Looks at one RTP packet; returns the size when it is the first one or differs from the last. */
  observe(packet: Uint8Array): VideoSize | undefined {
    const sps = spsOfRtp(packet);
    if (!sps || (this.#lastSps && sameBytes(sps, this.#lastSps))) return undefined;
    this.#lastSps = sps.slice();
    const info = parseSps(sps);
    if (!info) return undefined;
    if (this.#size?.width === info.width && this.#size.height === info.height) return undefined;
    this.#size = { width: info.width, height: info.height };
    return this.#size;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
