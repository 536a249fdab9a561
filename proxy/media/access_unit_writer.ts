// Writes a depacketized access unit as Annex-B (H.264 Annex B): one allocation per unit, the
// NAL units copied once from the packets' payload views, SPS/PPS put in front of a keyframe
// that lacks them at the place H.264 §7.4.1.2.3 allows (after an AUD, SPS before PPS).

import { Buffer } from "node:buffer";
import { ANNEX_B_START_CODE, NalType } from "../../shared/mod.ts";

/** A NAL unit reassembled from FU-A fragments: rebuilt header octet + fragment views. */
export interface FuNal {
  header: number;
  parts: Uint8Array[];
  /** Header octet + all parts. */
  size: number;
}

/** A NAL unit as received: whole (single NAL or STAP-A entry, header included) or in fragments. */
export type Nal = Uint8Array | FuNal;

/** The unit being collected by the depacketizer (reused from unit to unit). */
export interface UnitDraft {
  nals: Nal[];
  timestamp: number;
  arrivalMs: number;
  hasIdr: boolean;
  hasSps: boolean;
  hasPps: boolean;
  hasVcl: boolean;
}

/** The NAL header octet of `nal`. */
export function nalHeader(nal: Nal): number {
  return nal instanceof Uint8Array ? nal[0]! : nal.header;
}

/** Length of `nal` in bytes, header included. */
export function nalSize(nal: Nal): number {
  return nal instanceof Uint8Array ? nal.length : nal.size;
}

/** The octet after the NAL header (0 when there is none). */
export function secondByte(nal: Nal): number {
  return nal instanceof Uint8Array ? nal[1]! : nal.parts[0]![0] ?? 0;
}

/** `nal` as one contiguous array (a copy only when it came in fragments). */
export function flattenNal(nal: Nal): Uint8Array {
  if (nal instanceof Uint8Array) return nal;
  const out = new Uint8Array(nal.size);
  out[0] = nal.header;
  let offset = 1;
  for (const part of nal.parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** True when `b` is a whole NAL with the same bytes as `a`. */
export function sameBytes(a: Uint8Array | undefined, b: Nal): boolean {
  if (!a || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Annex-B bytes of `unit`, plus views of each NAL unit in them. `sps`/`pps` are inserted when
 * given and the unit has none of its own: SPS first (after a leading AUD), PPS right after
 * the SPS.
 */
export function writeAccessUnit(
  unit: UnitDraft,
  sps: Uint8Array | undefined,
  pps: Uint8Array | undefined,
): { data: Uint8Array; nals: Uint8Array[] } {
  const addSps = unit.hasSps ? undefined : sps;
  const addPps = unit.hasPps ? undefined : pps;
  let size = (addSps ? 4 + addSps.length : 0) + (addPps ? 4 + addPps.length : 0);
  for (const nal of unit.nals) size += 4 + nalSize(nal);
  const w = new AnnexBWriter(size);
  const first = unit.nals[0];
  const spsAt = first && (nalHeader(first) & 0x1f) === NalType.aud ? 1 : 0;
  let ppsPending = addPps !== undefined;
  for (let i = 0; i < unit.nals.length; i++) {
    if (i === spsAt && addSps) {
      w.whole(addSps);
      if (addPps) w.whole(addPps);
      ppsPending = false;
    }
    const nal = unit.nals[i]!;
    w.nal(nal);
    if (ppsPending && (nalHeader(nal) & 0x1f) === NalType.sps) {
      w.whole(addPps!);
      ppsPending = false;
    }
  }
  if (addSps && spsAt >= unit.nals.length) {
    w.whole(addSps);
    if (addPps) w.whole(addPps);
  } else if (ppsPending) {
    w.whole(addPps!);
  }
  return { data: w.out, nals: w.nals };
}

class AnnexBWriter {
  readonly out: Uint8Array;
  readonly nals: Uint8Array[] = [];
  private offset = 0;

  constructor(size: number) {
    // Not zero-filled: every byte is written below. (A zeroed `new Uint8Array` costs ~5× more
    // per frame here, page faults included; measured with bench/depacketizer.ts.)
    this.out = Buffer.allocUnsafe(size);
  }

  nal(nal: Nal): void {
    if (nal instanceof Uint8Array) return this.whole(nal);
    this.out.set(ANNEX_B_START_CODE, this.offset);
    const start = this.offset + 4;
    this.out[start] = nal.header;
    let offset = start + 1;
    for (const part of nal.parts) {
      this.out.set(part, offset);
      offset += part.length;
    }
    this.nals.push(this.out.subarray(start, offset));
    this.offset = offset;
  }

  whole(nal: Uint8Array): void {
    this.out.set(ANNEX_B_START_CODE, this.offset);
    const start = this.offset + 4;
    this.out.set(nal, start);
    this.offset = start + nal.length;
    this.nals.push(this.out.subarray(start, this.offset));
  }
}
