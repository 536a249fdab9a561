// Stamping each picture with its capture time (abs-capture-time, shared/abs_capture_time.ts)
// as its first RTP packet leaves gst-launch. gst-launch gives no wall-clock time of its own
// (rtpstreampay writes bare RTP), so the closest the agent can see is the moment it reads that
// packet from the child's stdout: the capture time then includes the encoder's latency (x264
// zerolatency: one picture at most) and the pipe, a few ms, and is on the agent's wall clock.
//
// A picture starts at a new RTP timestamp (RFC 6184 §5.1: every packet of one access unit
// carries the same one) or a new SSRC (a restarted child). Its first packet other than an access
// unit delimiter carries the stamp: the GOP cache and a source splice start a GOP at its SPS or
// IDR and leave the delimiter before it behind (gop_cache.ts), and the delimiter leaves gst in
// the same write as what follows it. The stamp goes into the packet's bytes here, as an RFC 8285 one-byte header extension, so that the GOP cache and a source
// splice carry it along and a replayed GOP keeps its real age:
//
//   gst:     |V=2 X=0 …|ts|ssrc| payload …
//   stamped: |V=2 X=1 …|ts|ssrc| 0xBEDE | len=3 | ID len=7 | NTP (8) | 0 0 0 | payload …
//                                (§4.2 preamble) (element)            (padding to a word)
//
// ID is the agent's own (CAPTURE_STAMP_ID, the one its offer names); the publisher rewrites or
// strips it when the session negotiated another or none (agent/push/werift_packet.ts).
import { encodeAbsCaptureTime, NalType, nalType } from "../../shared/mod.ts";

/** The extension id the agent offers for abs-capture-time and stamps packets with. */
export const CAPTURE_STAMP_ID = 1;
/** RFC 8285 §4.2: "defined by profile" of the one-byte form. */
export const ONE_BYTE_PROFILE = 0xbede;
/** Bytes a stamp adds: preamble (4), element header (1), NTP time (8), padding (3). */
export const STAMP_BYTES = 16;

/** Counters (cumulative). */
export interface CaptureStampCounters {
  /** Pictures stamped. */
  stamped: number;
  /** First packets of a picture left unstamped: they already had an extension or CSRCs. */
  unstampable: number;
}

/** Stamps the first packet of every picture; see the file comment. */
export class CaptureStamper {
  readonly counters: CaptureStampCounters = { stamped: 0, unstampable: 0 };
  #timestamp = -1;
  #ssrc = -1;

  /** `packet`, or a stamped copy of it when it starts a picture; `nowMs` is the agent's wall clock. */
  stamp(packet: Uint8Array, nowMs: number): Uint8Array {
    if (packet.length < 12) return packet;
    const timestamp = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
    const ssrc = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
    if (timestamp === this.#timestamp && ssrc === this.#ssrc) return packet;
    if ((packet[0]! & 0x1f) === 0 && packet.length > 12 && nalType(packet[12]!) === NalType.aud) return packet; // the next one
    this.#timestamp = timestamp;
    this.#ssrc = ssrc;
    if ((packet[0]! & 0x1f) !== 0) {
      this.counters.unstampable++; // X or CC set: rtph264pay writes neither
      return packet;
    }
    this.counters.stamped++;
    return withStamp(packet, nowMs);
  }
}

/** A copy of the plain-header `packet` with the abs-capture-time extension of `unixMs`. */
export function withStamp(packet: Uint8Array, unixMs: number): Uint8Array {
  const out = new Uint8Array(packet.length + STAMP_BYTES);
  out.set(packet.subarray(0, 12), 0);
  out[0] = out[0]! | 0x10;
  out[12] = ONE_BYTE_PROFILE >> 8;
  out[13] = ONE_BYTE_PROFILE & 0xff;
  out[14] = 0;
  out[15] = 3; // length in 32-bit words after the preamble
  out[16] = (CAPTURE_STAMP_ID << 4) | 7; // len field = bytes - 1
  out.set(encodeAbsCaptureTime(unixMs), 17);
  out.set(packet.subarray(12), 12 + STAMP_BYTES);
  return out;
}
