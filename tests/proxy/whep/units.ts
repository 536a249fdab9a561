// Access units for WHEP unit tests: Annex-B data and NAL views, like the assembler makes them.
import { Buffer } from "node:buffer";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";

/** A NAL unit of `size` bytes with header octet `header` and a recognisable body. */
export function nal(header: number, size: number, fill = 0x11): Uint8Array {
  const out = new Uint8Array(size);
  out[0] = header;
  for (let i = 1; i < size; i++) out[i] = (fill + i) & 0xff || 1;
  // A slice header starting with bit 1: first_mb_in_slice = 0 (ue(v), H.264 §7.3.3).
  if (size > 1 && [1, 5].includes(header & 0x1f)) out[1] = 0x88;
  return out;
}

/** An access unit of `nals` (keyframe when one is an IDR slice). */
export function unit(seq: number, nals: Uint8Array[], rtpTimestamp = seq * 3000): AccessUnit {
  const data = Buffer.concat(nals.flatMap((n) => [Buffer.of(0, 0, 0, 1), Buffer.from(n)]));
  const views: Uint8Array[] = [];
  let offset = 0;
  for (const n of nals) {
    offset += 4;
    views.push(data.subarray(offset, offset + n.length));
    offset += n.length;
  }
  return { data, nals: views, keyframe: nals.some((n) => (n[0]! & 0x1f) === 5), rtpTimestamp, seq, firstPacketArrivalMs: 0 };
}

/** SPS + PPS + an IDR slice of `size` bytes. */
export function keyframe(seq: number, size = 3000): AccessUnit {
  return unit(seq, [nal(0x67, 12), nal(0x68, 4), nal(0x65, size)]);
}

/** One non-IDR slice of `size` bytes. */
export function pframe(seq: number, size = 800): AccessUnit {
  return unit(seq, [nal(0x41, size, seq)]);
}
