// --max-access-unit-bytes: a unit that would grow past the bound (one timestamp, no marker; an
// FU-A without its end) is dropped at once as "oversize", a keyframe is asked for, the rest of
// its timestamp is discarded, and the stream recovers at the next keyframe.
import { describe, expect, test } from "bun:test";
import {
  type AccessUnit,
  DEFAULT_MAX_ACCESS_UNIT_BYTES,
  type FrameDropReason,
  H264Depacketizer,
} from "../../../proxy/media/h264_depacketizer.ts";
import { FrameAssembler } from "../../../proxy/media/frame_assembler.ts";

const STAP = (...nals: Uint8Array[]) =>
  Uint8Array.from([0x78, ...nals.flatMap((n) => [n.length >> 8, n.length & 0xff, ...n])]);
const AUD = Uint8Array.of(0x09, 0xf0);
const SPS = Uint8Array.from(Buffer.from("6742c00dd90141fb016a0c0c0d4a000003000200000300791e285490", "hex"));
const PPS = Uint8Array.of(0x68, 0xcb, 0x8c, 0xb2);
const IDR = Uint8Array.of(0x65, 0x88, 0x84, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50);

/** FU-A fragment of a P slice (type 1): start, middle or end, `size` bytes of body. */
function fuP(kind: "start" | "middle" | "end", size: number): Uint8Array {
  const out = new Uint8Array(2 + size).fill(0x5a);
  out[0] = 0x40 | 28;
  out[1] = (kind === "start" ? 0x80 : kind === "end" ? 0x40 : 0) | 1;
  if (kind === "start") out[2] = 0x9a; // first_mb_in_slice = 0
  return out;
}

function depacketizer(maxUnitBytes: number) {
  const d = new H264Depacketizer({ pliIntervalMs: 0, maxUnitBytes });
  const units: AccessUnit[] = [];
  const drops: { reason: FrameDropReason; seq: number | undefined }[] = [];
  const sink = { unit: (u: AccessUnit) => units.push(u), drop: (reason: FrameDropReason, _ts: number, seq?: number) => drops.push({ reason, seq }) };
  let seq = 0;
  const push = (payload: Uint8Array, ts: number, marker = false) =>
    d.push(payload, { timestamp: ts, marker, seq: seq++, arrivalMs: seq, nowMs: seq * 1000 }, sink);
  const keyframe = (ts: number) => {
    push(STAP(AUD, SPS, PPS), ts);
    return push(IDR, ts, true);
  };
  return { d, units, drops, push, keyframe };
}

describe("H264Depacketizer maxUnitBytes", () => {
  test("defaults to 4 MiB", () => {
    expect(DEFAULT_MAX_ACCESS_UNIT_BYTES).toBe(4 * 1024 * 1024);
  });

  test("drops an FU-A that never ends at the packet that crosses the bound, asks for a keyframe, then discards its timestamp", () => {
    const t = depacketizer(10_000);
    t.keyframe(0);
    expect(t.units).toHaveLength(1);
    t.push(fuP("start", 1000), 3000);
    let crossedAt = -1;
    for (let i = 0; i < 200; i++) {
      const pli = t.push(fuP("middle", 1000), 3000);
      if (t.drops.length > 0 && crossedAt < 0) {
        crossedAt = i;
        expect(pli).toBe(true); // the PLI goes out with the packet that crossed the bound
      } else if (crossedAt >= 0) {
        expect(pli).toBe(false); // the rest of the timestamp is discarded quietly
      }
    }
    // ~1064 bytes charged a packet: the 10th packet of the unit crosses 10 000.
    expect(crossedAt).toBe(8);
    expect(t.drops).toEqual([{ reason: "oversize", seq: 1 }]);
    t.push(fuP("end", 10), 3000, true); // its end closes nothing twice
    expect(t.drops).toHaveLength(1);
    // A P frame after it cannot be decoded: dropped until the keyframe the PLI asked for.
    t.push(fuP("start", 10), 6000);
    t.push(fuP("end", 10), 6000, true);
    expect(t.drops.at(-1)).toEqual({ reason: "awaiting-keyframe", seq: 2 });
    t.keyframe(9000);
    expect(t.units).toHaveLength(2);
    expect(t.units[1]).toMatchObject({ keyframe: true, rtpTimestamp: 9000, seq: 3 });
  });

  test("bounds single NAL units of one timestamp without a marker until the timestamp changes", () => {
    const t = depacketizer(64 * 1024);
    t.keyframe(0);
    const slice = new Uint8Array(1200).fill(0x33);
    slice[0] = 0x41;
    slice[1] = 0x9a;
    for (let i = 0; i < 1000; i++) t.push(slice, 3000);
    expect(t.drops.map((d) => d.reason)).toEqual(["oversize"]);
    t.keyframe(6000);
    expect(t.units.map((u) => u.rtpTimestamp)).toEqual([0, 6000]);
  });

  test("a unit of exactly the bound is emitted; one byte more is oversize", () => {
    // One packet: payload + 64 (packet) + 64 (its NAL unit) bytes charged.
    const slice = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x65 : i === 1 ? 0x88 : 7));
    const fits = depacketizer(4096);
    fits.push(STAP(SPS, PPS), 0);
    // STAP-A: its length + 64, plus 64 for each of its two NAL units.
    const used = STAP(SPS, PPS).length + 3 * 64;
    fits.push(slice(4096 - used - 64), 0, true); // + 64 for the IDR's NAL is charged after the check
    expect(fits.drops).toEqual([]);
    expect(fits.units).toHaveLength(1);
    const over = depacketizer(4096);
    over.push(STAP(SPS, PPS), 0);
    over.push(slice(4096 - used - 64 + 1), 0, true);
    expect(over.drops.map((d) => d.reason)).toEqual(["oversize"]);
    expect(over.units).toHaveLength(0);
  });
});

describe("FrameAssembler maxAccessUnitBytes", () => {
  test("passes the bound to its depacketizer: counted in framesDropped.oversize, PLI in the output", () => {
    const a = new FrameAssembler({ maxAccessUnitBytes: 8192, payloadType: 96 });
    const rtp = (seq: number, payload: Uint8Array, marker = false, timestamp = 3000) => ({
      header: { marker, payloadType: 96, sequenceNumber: seq, timestamp, ssrc: 1 }, payload,
    });
    a.push(rtp(1, STAP(AUD, SPS, PPS), false, 0), 0);
    expect(a.push(rtp(2, IDR, true, 0), 0).frames).toHaveLength(1);
    a.push(rtp(3, fuP("start", 1000)), 2000);
    const plis: boolean[] = [];
    for (let s = 4; s < 40; s++) plis.push(a.push(rtp(s, fuP("middle", 1000)), 2000 + s).pli);
    expect(plis.filter(Boolean)).toHaveLength(1);
    expect(a.counters.framesDropped.oversize).toBe(1);
    a.push(rtp(40, STAP(AUD, SPS, PPS), false, 6000), 3000);
    expect(a.push(rtp(41, IDR, true, 6000), 3000).frames[0]).toMatchObject({ keyframe: true, rtpTimestamp: 6000 });
  });
});
