// The sender's capture clock of one RTP stream: each picture's capture time on the sender's
// wall clock, from the abs-capture-time stamps (shared/abs_capture_time.ts) its packets carry.
// Pure: no I/O, no clock of its own.
//
// A picture whose own stamp did not arrive (a sender that stamps only some pictures, as
// libwebrtc may, or the stamped packet lost for good) is placed from the newest stamp by the
// RTP clock, the same arithmetic as an RTCP sender report (RFC 3550 §6.4.1):
//
//   capture(ts) = stampMs + int32(ts − stampTs) / 90 kHz        (RFC 6184 §8.2.1: 90 kHz)
//
// with the 32-bit difference taken signed, so a timestamp that wrapped past 2^32 (every 13.25 h
// at 90 kHz) is still 1/30 s after the one before it. Beyond `MAX_EXTRAPOLATION_S` of the stamp
// the picture is left without a capture time rather than guessed.
//
// RFC 8285 header extension block (§4.2 one-byte, §4.3 two-byte), as `parseRtpPacket` leaves it:
//
//   one-byte (0xBEDE):     | ID (4) | len-1 (4) | data … | … | 0 padding |
//   two-byte (0x100 + x):  | ID (8) | len (8)   | data … | … | 0 padding |
import { decodeAbsCaptureTime } from "../../shared/mod.ts";

/** RTP clock of H.264 (RFC 6184 §8.2.1), ticks per ms. */
const TICKS_PER_MS = 90;
/** Pictures further than this from the newest stamp get no capture time. */
export const MAX_EXTRAPOLATION_S = 60;
/** Exact stamps remembered (pictures waiting in the jitter buffer are far fewer). */
const REMEMBERED = 64;

/** The data of element `id` in an RFC 8285 header extension block, if it is there. */
export function extensionElement(profile: number, block: Uint8Array, id: number): Uint8Array | undefined {
  const oneByte = profile === 0xbede;
  if (!oneByte && (profile & 0xfff0) !== 0x1000) return undefined;
  for (let at = 0; at < block.length;) {
    const head = block[at]!;
    if (head === 0) {
      at++; // padding (§4.2, §4.3)
      continue;
    }
    const elementId = oneByte ? head >> 4 : head;
    if (oneByte && elementId === 15) return undefined; // §4.2: stop parsing
    const length = oneByte ? (head & 0x0f) + 1 : block[at + 1] ?? 0;
    const start = at + (oneByte ? 1 : 2);
    if (start + length > block.length) return undefined;
    if (elementId === id) return block.subarray(start, start + length);
    at = start + length;
  }
  return undefined;
}

/**
 * The data of element `id` of a received packet: from werift's parsed list (`original` is its
 * packet), else from the block `parseRtpPacket` left in `parsed`.
 */
export function stampOf(
  parsed: { extensionProfile?: number; extension?: Uint8Array },
  original: Uint8Array | object,
  id: number,
): Uint8Array | undefined {
  if ("header" in original) {
    const header = original.header as { extensions?: { id: number; payload: Uint8Array }[] };
    return header.extensions?.find((e) => e.id === id)?.payload;
  }
  return parsed.extension && parsed.extensionProfile !== undefined ? extensionElement(parsed.extensionProfile, parsed.extension, id) : undefined;
}

/** Counters (cumulative). */
export interface CaptureClockCounters {
  /** Stamps read. */
  stamps: number;
  /** Stamps whose payload was no abs-capture-time (wrong length). */
  badStamps: number;
  /** Pictures placed from another picture's stamp by the RTP clock. */
  extrapolated: number;
}

/** One stream's capture times; see the file comment. */
export class CaptureClock {
  readonly counters: CaptureClockCounters = { stamps: 0, badStamps: 0, extrapolated: 0 };
  readonly #exact = new Map<number, number>();
  #newest: { ts: number; ms: number } | undefined;

  /** Reads a packet's stamp (the extension's data) for RTP timestamp `ts`; `nowMs` picks the NTP era. */
  noteStamp(ts: number, data: Uint8Array, nowMs: number): void {
    const ms = decodeAbsCaptureTime(data, nowMs);
    if (ms === undefined) {
      this.counters.badStamps++;
      return;
    }
    this.counters.stamps++;
    this.note(ts, ms);
  }

  /** Picture `ts` was captured at `ms` (the sender's wall clock). */
  note(ts: number, ms: number): void {
    if (!this.#exact.has(ts)) {
      if (this.#exact.size >= REMEMBERED) this.#exact.delete(this.#exact.keys().next().value!);
      this.#exact.set(ts, ms);
    }
    this.#newest = { ts, ms };
  }

  /** Capture time (sender's ms) of the picture with RTP timestamp `ts`, or undefined when unknown. */
  captureTimeOf(ts: number): number | undefined {
    const exact = this.#exact.get(ts);
    if (exact !== undefined) return exact;
    const newest = this.#newest;
    if (!newest) return undefined;
    const ticks = (ts - newest.ts) | 0; // int32: right across the 2^32 wrap
    if (Math.abs(ticks) > MAX_EXTRAPOLATION_S * 1000 * TICKS_PER_MS) return undefined;
    this.counters.extrapolated++;
    return newest.ms + ticks / TICKS_PER_MS;
  }

  /** A new sender (SSRC): its timeline has nothing to do with the old one's. */
  reset(): void {
    this.#exact.clear();
    this.#newest = undefined;
  }
}
