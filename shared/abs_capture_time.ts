/**
 * The abs-capture-time RTP header extension (http://www.webrtc.org/experiments/rtp-hdrext/
 * abs-capture-time, libwebrtc docs/native-code/rtp-hdrext/abs-capture-time): the wall-clock
 * time at which the picture a packet belongs to was captured, as a 64-bit NTP timestamp
 * (RFC 5905 §6: UQ32.32 seconds since 1900-01-01) of the capture system's clock. vsb-agent
 * stamps the first packet of every picture; vsb-proxy reads it into `captureTime`.
 *
 * One-byte form (RFC 8285 §4.2), the shortened version without the estimated clock offset:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  ID   | len=7 |     absolute capture timestamp (bit 0-23)     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |             absolute capture timestamp (bit 24-55)            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  ... (56-63)  |   (16 bytes when the clock offset follows)
 *   +-+-+-+-+-+-+-+-+
 *
 * NTP seconds wrap every 2^32 s (era 1 starts 2036-02-07): a timestamp is read in the era that
 * puts it nearest the reader's own clock (RFC 5905 §6), so the wrap is harmless.
 */

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (RFC 5905 §6, Figure 4). */
export const NTP_UNIX_OFFSET_S = 2_208_988_800;
const TWO_32 = 4_294_967_296;
/** One NTP era in ms. */
const ERA_MS = TWO_32 * 1000;

/** Payload bytes of the shortened form (no estimated capture clock offset). */
export const ABS_CAPTURE_TIME_BYTES = 8;

/** `unixMs` as NTP seconds and fraction (both unsigned 32-bit; seconds taken modulo the era). */
export function unixMsToNtp(unixMs: number): { seconds: number; fraction: number } {
  const totalS = unixMs / 1000 + NTP_UNIX_OFFSET_S;
  const whole = Math.floor(totalS);
  let fraction = Math.round((totalS - whole) * TWO_32);
  let seconds = whole;
  if (fraction >= TWO_32) {
    fraction -= TWO_32;
    seconds++;
  }
  return { seconds: ((seconds % TWO_32) + TWO_32) % TWO_32, fraction };
}

/**
 * NTP `seconds`.`fraction` as Unix ms, in the era nearest `nearUnixMs` (the reader's clock):
 * a timestamp taken within ±68 years of the reader's time is read right across a wrap.
 */
export function ntpToUnixMs(seconds: number, fraction: number, nearUnixMs: number): number {
  const inEra0 = (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction / TWO_32) * 1000;
  const eras = Math.round((nearUnixMs - inEra0) / ERA_MS);
  return inEra0 + eras * ERA_MS;
}

/** The 8-byte extension payload for a picture captured at `unixMs`. */
export function encodeAbsCaptureTime(unixMs: number): Uint8Array {
  const { seconds, fraction } = unixMsToNtp(unixMs);
  const out = new Uint8Array(ABS_CAPTURE_TIME_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, seconds);
  view.setUint32(4, fraction);
  return out;
}

/**
 * The capture time (Unix ms) in an extension payload (8 or 16 bytes; an estimated clock
 * offset is ignored: it is for mixers), or undefined when the payload is not one.
 */
export function decodeAbsCaptureTime(payload: Uint8Array, nearUnixMs: number): number | undefined {
  if (payload.length !== 8 && payload.length !== 16) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return ntpToUnixMs(view.getUint32(0), view.getUint32(4), nearUnixMs);
}
