import { describe, expect, test } from "bun:test";
import {
  type AccessUnit,
  type FrameDropReason,
  H264Depacketizer,
} from "../../../proxy/media/h264_depacketizer.ts";
import { joinAnnexB, splitAnnexB } from "../../../shared/h264.ts";

const AUD = Uint8Array.of(0x09, 0xf0);
const SPS = Uint8Array.from(Buffer.from("6742c00dd90141fb016a0c0c0d4a000003000200000300791e285490", "hex"));
const PPS = Uint8Array.of(0x68, 0xcb, 0x8c, 0xb2);
const IDR = Uint8Array.of(0x65, 0x88, 0x84, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50);
const P = Uint8Array.of(0x41, 0x9a, 0x02, 0x03, 0x04, 0x05, 0x06);

const stapA = (...nals: Uint8Array[]) =>
  Uint8Array.from([0x78, ...nals.flatMap((n) => [n.length >> 8, n.length & 0xff, ...n])]);
/** FU-A packets of `nal` cut into `n` fragments (RFC 6184 §5.8). */
function fuA(nal: Uint8Array, n: number): Uint8Array[] {
  const body = nal.subarray(1);
  const step = Math.ceil(body.length / n);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const fuHeader = (i === 0 ? 0x80 : 0) | (i === n - 1 ? 0x40 : 0) | (nal[0]! & 0x1f);
    out.push(Uint8Array.from([(nal[0]! & 0xe0) | 28, fuHeader, ...body.subarray(i * step, (i + 1) * step)]));
  }
  return out;
}

interface Pkt {
  payload: Uint8Array;
  ts: number;
  marker?: boolean;
  seq?: number;
}

/** Feeds packets (consecutive sequence numbers unless given) and records what comes out. */
function run(packets: Pkt[], options = { pliIntervalMs: 500 }, nowMs = (i: number) => i) {
  const d = new H264Depacketizer(options);
  const units: AccessUnit[] = [];
  const drops: FrameDropReason[] = [];
  const plis: number[] = [];
  let seq = 1000;
  packets.forEach((p, i) => {
    seq = p.seq ?? seq + 1;
    const pli = d.push(p.payload, {
      timestamp: p.ts, marker: p.marker ?? false, seq, arrivalMs: i, nowMs: nowMs(i),
    }, { unit: (u) => units.push(u), drop: (r) => drops.push(r) });
    if (pli) plis.push(i);
  });
  return { units, drops, plis, d };
}

const hexNals = (u: AccessUnit) => splitAnnexB(u.data).map((n) => Buffer.from(n).toString("hex"));
const hexOf = (...nals: Uint8Array[]) => nals.map((n) => Buffer.from(n).toString("hex"));
const keyframe = (ts: number): Pkt[] => [
  { payload: stapA(AUD, SPS, PPS), ts },
  ...fuA(IDR, 3).map((payload, i) => ({ payload, ts, marker: i === 2 })),
];

describe("H264Depacketizer", () => {
  test("joins STAP-A and FU-A packets into one Annex-B keyframe with its size", () => {
    const { units, drops } = run([...keyframe(90), { payload: P, ts: 3090, marker: true }]);
    expect(drops).toEqual([]);
    expect(units).toHaveLength(2);
    expect(units[0]).toMatchObject({ keyframe: true, rtpTimestamp: 90, seq: 0, width: 320, height: 240 });
    expect(units[0]!.data).toEqual(joinAnnexB([AUD, SPS, PPS, IDR]));
    expect(units[1]).toMatchObject({ keyframe: false, seq: 1 });
    expect(hexNals(units[1]!)).toEqual(hexOf(P));
    expect(units[0]!.nals.map((n) => n.length)).toEqual([AUD, SPS, PPS, IDR].map((n) => n.length));
  });

  test("puts the remembered SPS and PPS after the AUD of a keyframe that lacks them", () => {
    const { units } = run([
      ...keyframe(0),
      { payload: stapA(AUD, IDR), ts: 3000, marker: true },
      { payload: IDR, ts: 6000, marker: true },
    ]);
    expect(hexNals(units[1]!)).toEqual(hexOf(AUD, SPS, PPS, IDR));
    expect(hexNals(units[2]!)).toEqual(hexOf(SPS, PPS, IDR));
  });

  test("puts a missing PPS right after the keyframe's own SPS", () => {
    const { units } = run([...keyframe(0), { payload: stapA(SPS, IDR), ts: 3000, marker: true }]);
    expect(hexNals(units[1]!)).toEqual(hexOf(SPS, PPS, IDR));
  });

  test("remembers SPS/PPS sent alone (no picture) for the IDR that follows", () => {
    const { units, drops } = run([
      { payload: stapA(SPS, PPS), ts: 0, marker: true },
      { payload: IDR, ts: 3000, marker: true },
    ]);
    expect(drops).toEqual(["no-picture"]);
    expect(hexNals(units[0]!)).toEqual(hexOf(SPS, PPS, IDR));
  });

  // A file sender (rtph264pay replaying a pre-encoded stream) marks its parameter-set packet.
  const SEI = Uint8Array.of(0x06, 0x05, 0x01, 0x80);
  for (const [what, head, nals] of [
    ["SPS+PPS STAP-A with marker", [{ payload: stapA(SPS, PPS), marker: true }], [SPS, PPS]],
    ["SPS alone and PPS alone, each with marker", [{ payload: SPS, marker: true }, { payload: PPS, marker: true }], [SPS, PPS]],
    ["SPS alone and PPS alone, no marker", [{ payload: SPS }, { payload: PPS }], [SPS, PPS]],
    ["AUD+SEI+SPS+PPS STAP-A with marker", [{ payload: stapA(AUD, SEI, SPS, PPS), marker: true }], [AUD, SEI, SPS, PPS]],
  ] as const) {
    test(`${what}, then the IDR at the same timestamp: one keyframe, nothing dropped`, () => {
      const pkts: Pkt[] = [];
      for (const ts of [0, 3000, 6000]) {
        for (const h of head) pkts.push({ ...h, ts: ts * 2 });
        pkts.push(...fuA(IDR, 3).map((payload, i) => ({ payload, ts: ts * 2, marker: i === 2 })));
        pkts.push({ payload: P, ts: ts * 2 + 3000, marker: true });
      }
      const { units, drops, plis } = run(pkts);
      expect(drops).toEqual([]);
      expect(plis).toEqual([]);
      expect(units.map((u) => [u.seq, u.keyframe])).toEqual([[0, true], [1, false], [2, true], [3, false], [4, true], [5, false]]);
      for (const k of [0, 2, 4]) expect(hexNals(units[k]!)).toEqual(hexOf(...nals, IDR));
      expect(hexNals(units[1]!)).toEqual(hexOf(P));
    });
  }

  test("a marked parameter-set unit followed by a new timestamp is dropped as no-picture, its SPS/PPS kept", () => {
    const { units, drops } = run([
      { payload: stapA(SPS, PPS), ts: 0, marker: true },
      { payload: IDR, ts: 3000, marker: true },
    ]);
    expect(drops).toEqual(["no-picture"]);
    expect(hexNals(units[0]!)).toEqual(hexOf(SPS, PPS, IDR));
  });

  test("drops an IDR while no SPS/PPS is known, asking for a keyframe", () => {
    const { units, drops, plis } = run([{ payload: IDR, ts: 0, marker: true }, ...keyframe(3000)]);
    expect(drops).toEqual(["missing-parameter-sets"]);
    expect(plis).toEqual([0]);
    expect(units.map((u) => u.rtpTimestamp)).toEqual([3000]);
  });

  test("drops units before the first keyframe with awaiting-keyframe and rate-limits PLIs", () => {
    const packets: Pkt[] = [0, 1, 2, 3].map((i) => ({ payload: P, ts: i * 3000, marker: true }));
    const { units, drops, plis } = run([...packets, ...keyframe(12000)], { pliIntervalMs: 500 },
      (i) => i * 200);
    expect(drops).toEqual(Array(4).fill("awaiting-keyframe"));
    expect(plis).toEqual([0, 3]);
    expect(units).toHaveLength(1);
  });

  test("closes a unit whose marker never came when the timestamp changes", () => {
    const { units, drops } = run([
      ...keyframe(0).map((p) => ({ ...p, marker: false })),
      { payload: P, ts: 3000 },
      { payload: P, ts: 6000, marker: true },
    ]);
    expect(drops).toEqual([]);
    expect(units.map((u) => u.rtpTimestamp)).toEqual([0, 3000, 6000]);
  });

  const broken: [string, Pkt[], FrameDropReason[]][] = [
    ["a gap inside a unit", [...keyframe(0).slice(0, 2), { ...keyframe(0)[3]!, seq: 1010 }], ["packet-lost"]],
    ["FU-A start without end", [keyframe(0)[0]!, keyframe(0)[1]!, { payload: P, ts: 0, marker: true }], ["fu-a-incomplete"]],
    ["FU-A end without start", [keyframe(0)[0]!, keyframe(0)[3]!], ["fu-a-without-start"]],
    ["two FU-A starts", [keyframe(0)[1]!, keyframe(0)[1]!, keyframe(0)[3]!], ["fu-a-incomplete"]],
    ["FU-A with S and E set", [{ payload: Uint8Array.of(0x7c, 0xc5, 1), ts: 0, marker: true }], ["malformed"]],
    ["FU-A fragments of two NAL types", [{ payload: fuA(IDR, 2)[0]!, ts: 0 }, { payload: fuA(P, 2)[1]!, ts: 0, marker: true }], ["fu-a-incomplete"]],
    ["FU-A open at the marker", [keyframe(0)[0]!, { ...keyframe(0)[1]!, marker: true }], ["fu-a-incomplete"]],
    ["STAP-A size beyond the packet", [{ payload: Uint8Array.of(0x78, 0, 9, 0x65, 1), ts: 0, marker: true }], ["malformed"]],
    ["STAP-A with a zero size", [{ payload: Uint8Array.of(0x78, 0, 0, 0, 2, 0x65, 1), ts: 0, marker: true }], ["malformed"]],
    ["an empty payload", [{ payload: new Uint8Array(0), ts: 0, marker: true }], ["malformed"]],
    ["the F bit", [{ payload: Uint8Array.of(0xe5, 1, 2), ts: 0, marker: true }], ["malformed"]],
    ["a one-byte slice", [{ payload: Uint8Array.of(0x65), ts: 0, marker: true }], ["malformed"]],
    ["a picture whose first slice is missing (first_mb_in_slice ≠ 0)", [{ payload: Uint8Array.of(0x65, 0x08, 1), ts: 0, marker: true }], ["first-slice-missing"]],
    ["STAP-B (interleaved mode)", [{ payload: Uint8Array.of(0x79, 0, 0, 0, 2, 0x65, 1), ts: 0, marker: true }], ["unsupported-packet"]],
  ];
  for (const [what, packets, reasons] of broken) {
    test(`never emits a unit with ${what}`, () => {
      const { units, drops, plis } = run([...keyframe(-3000), ...packets, ...keyframe(90000)]);
      expect(drops).toEqual(reasons);
      expect(units.map((u) => u.rtpTimestamp)).toEqual([-3000, 90000]);
      expect(plis.length).toBe(1);
    });
  }

  test("after a gap between units drops the unit with no marker and the next one too", () => {
    const first = [{ payload: P, ts: 3000 }, { payload: P, ts: 3000, seq: 2000 }];
    const { drops } = run([...keyframe(0), ...first, { payload: P, ts: 6000, marker: true }]);
    expect(drops).toEqual(["packet-lost", "awaiting-keyframe"]);
    const { drops: d2 } = run([...keyframe(0), { payload: P, ts: 3000, marker: true },
      { payload: P, ts: 6000, seq: 2000, marker: true }]);
    expect(d2).toEqual(["packet-lost"]);
    const { drops: d3 } = run([...keyframe(0), { payload: P, ts: 3000 },
      { payload: P, ts: 6000, seq: 2000, marker: true }]);
    expect(d3).toEqual(["packet-lost", "packet-lost"]);
  });

  test("seq counts every unit after the first keyframe, so each dropped frame leaves a jump", () => {
    const seqs: (number | undefined)[] = [];
    const d = new H264Depacketizer();
    const sink = { unit: (u: AccessUnit) => seqs.push(u.seq), drop: (_r: FrameDropReason, _ts: number, seq?: number) => seqs.push(seq) };
    const packets: Pkt[] = [
      { payload: P, ts: 0, marker: true }, // before the first keyframe: not numbered
      { payload: stapA(SPS, PPS), ts: 1500, marker: true }, // no picture: not numbered
      ...keyframe(3000), // seq 0
      { payload: P, ts: 6000, marker: true }, // 1
      { payload: P, ts: 9000 }, { payload: P, ts: 9000, seq: 1020, marker: true }, // 2, dropped (packet-lost)
      { payload: P, ts: 12000, marker: true }, // 3, dropped (awaiting-keyframe)
      { payload: P, ts: 12000, marker: true }, // after its marker: not numbered
      ...keyframe(15000), // 4
      { payload: P, ts: 18000, marker: true }, // 5
    ];
    let seq = 1000;
    for (const p of packets) {
      seq = p.seq ?? seq + 1;
      d.push(p.payload, { timestamp: p.ts, marker: p.marker ?? false, seq, arrivalMs: 0, nowMs: 0 }, sink);
    }
    expect(seqs).toEqual([undefined, undefined, 0, 1, 2, 3, undefined, 4, 5]);
    expect(d.framesNumbered).toBe(6);
  });

  test("drops packets that come for a timestamp after its marker", () => {
    const { units, drops } = run([...keyframe(0), { payload: P, ts: 0, marker: true }, ...keyframe(3000)]);
    expect(drops).toEqual(["after-marker"]);
    expect(units).toHaveLength(2);
  });

  test("ignores payload types 0, 30 and 31 (RFC 6184 Table 3)", () => {
    const k = keyframe(0);
    const { units, d } = run([k[0]!, { payload: Uint8Array.of(0x1e, 1), ts: 0 }, ...k.slice(1)]);
    expect(units).toHaveLength(1);
    expect(d.ignoredPackets).toBe(1);
  });

  test("reset() waits for a keyframe again but keeps SPS/PPS", () => {
    const d = new H264Depacketizer();
    const units: AccessUnit[] = [];
    const drops: FrameDropReason[] = [];
    const sink = { unit: (u: AccessUnit) => units.push(u), drop: (r: FrameDropReason) => drops.push(r) };
    keyframe(0).forEach((p, i) => d.push(p.payload, { timestamp: 0, marker: !!p.marker, seq: i, arrivalMs: 0, nowMs: 0 }, sink));
    d.push(P, { timestamp: 3000, marker: false, seq: 4, arrivalMs: 0, nowMs: 0 }, sink);
    d.reset(sink);
    d.push(P, { timestamp: 6000, marker: true, seq: 77, arrivalMs: 0, nowMs: 0 }, sink);
    d.push(IDR, { timestamp: 9000, marker: true, seq: 78, arrivalMs: 0, nowMs: 0 }, sink);
    expect(drops).toEqual(["packet-lost", "awaiting-keyframe"]);
    expect(hexNals(units[1]!)).toEqual(hexOf(SPS, PPS, IDR));
  });
});
