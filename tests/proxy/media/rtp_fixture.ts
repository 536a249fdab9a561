// Test helpers for the captured RTP fixtures (made by scripts/make_rtp_fixture.sh) and for
// checking Annex-B output with a real decoder.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NalType, nalType, splitAnnexB } from "../../../shared/h264.ts";

/** The captures: single slice (STAP-A + FU-A) and four slices per picture (single NALs + FU-A). */
export const FIXTURES = {
  singleSlice: { name: "h264_320x240_single_slice", frames: 90, keyframes: [0, 30, 60] },
  multiSlice: { name: "h264_320x240_multi_slice", frames: 60, keyframes: [0, 30] },
} as const;

const FIXTURE_DIR = join(import.meta.dir, "../../fixtures");

/** RTP packets of a capture, unframed from RFC 4571 (16-bit length before each packet). */
export function readRtpFixture(name: string): Uint8Array[] {
  const bytes = new Uint8Array(readFileSync(join(FIXTURE_DIR, `${name}.rtp`)));
  const packets: Uint8Array[] = [];
  let offset = 0;
  while (offset + 2 <= bytes.length) {
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    packets.push(bytes.subarray(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return packets;
}

/** The Annex-B stream that was fed to the payloader, cut into access units at each AUD. */
export function readReferenceUnits(name: string): Uint8Array[][] {
  const nals = splitAnnexB(new Uint8Array(readFileSync(join(FIXTURE_DIR, `${name}.h264`))));
  const units: Uint8Array[][] = [];
  for (const nal of nals) {
    if (nalType(nal[0]!) === NalType.aud || units.length === 0) units.push([]);
    units.at(-1)!.push(nal);
  }
  return units;
}

/** Why GStreamer cannot check decoding here, or undefined when it can. */
export function gstUnavailable(): string | undefined {
  const probe = spawnSync("gst-inspect-1.0", ["avdec_h264"], { stdio: "ignore" });
  return probe.status === 0 ? undefined : "gst-inspect-1.0 avdec_h264 failed (GStreamer libav missing)";
}

/** Decode Annex-B `data` with avdec_h264 and count the pictures (I420 output size ÷ picture size). */
export function countDecodedPictures(data: Uint8Array, width: number, height: number): number {
  const dir = mkdtempSync(join(tmpdir(), "vsb-decode-"));
  try {
    writeFileSync(join(dir, "in.h264"), data);
    const run = spawnSync("gst-launch-1.0", [
      "-q", "filesrc", `location=${join(dir, "in.h264")}`, "!", "h264parse", "!", "avdec_h264",
      "!", "videoconvert", "!", `video/x-raw,format=I420,width=${width},height=${height}`,
      "!", "filesink", `location=${join(dir, "out.yuv")}`,
    ], { encoding: "utf8", timeout: 60_000 });
    if (run.status !== 0) throw new Error(`gst-launch-1.0 decode failed: ${run.stderr}`);
    const size = statSync(join(dir, "out.yuv")).size;
    return size / (width * height * 1.5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Concatenate byte arrays. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** A copy of RTP packet `p` with header fields replaced (sequence number, timestamp, marker). */
export function rewrite(
  p: Uint8Array,
  fields: { seq?: number; timestamp?: number; marker?: boolean },
): Uint8Array {
  const out = p.slice();
  const view = new DataView(out.buffer);
  if (fields.seq !== undefined) view.setUint16(2, fields.seq & 0xffff);
  if (fields.timestamp !== undefined) view.setUint32(4, fields.timestamp >>> 0);
  if (fields.marker !== undefined) out[1] = (out[1]! & 0x7f) | (fields.marker ? 0x80 : 0);
  return out;
}

/** Mulberry32: a small seeded PRNG so fuzz failures reproduce from the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
