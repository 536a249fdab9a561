import { describe, expect, test } from "bun:test";
import {
  type AccessUnit,
  type AssemblerCounters,
  FrameAssembler,
} from "../../../proxy/media/frame_assembler.ts";
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { isKeyframe, joinAnnexB, splitAnnexB } from "../../../shared/h264.ts";
import {
  concat,
  countDecodedPictures,
  FIXTURES,
  gstUnavailable,
  prng,
  readReferenceUnits,
  readRtpFixture,
  rewrite,
} from "./rtp_fixture.ts";

const header = (bytes: Uint8Array) => parseRtpPacket(bytes) as RtpPacket;
/** Arrival time of a packet on a real 30 fps stream: its RTP timestamp in ms. */
function clock(packets: Uint8Array[]) {
  const t0 = header(packets[0]!).timestamp;
  return (bytes: Uint8Array) => ((header(bytes).timestamp - t0) >>> 0) / 90;
}

function replay(packets: Uint8Array[], a = new FrameAssembler({ payloadType: 96 })) {
  const frames: AccessUnit[] = [];
  const nacks: number[] = [];
  const plis: number[] = [];
  const now = clock(packets);
  let last = 0;
  for (const bytes of packets) {
    last = now(bytes);
    const out = a.push(bytes, last);
    frames.push(...out.frames);
    nacks.push(...out.nacks);
    if (out.pli) plis.push(last);
  }
  const end = a.poll(last + 1000);
  frames.push(...end.frames);
  return { a, frames, nacks, plis };
}

/** Each frame's NAL units in hex, for comparing with the reference stream. */
const nalsOf = (data: Uint8Array) => splitAnnexB(data).map((n) => Buffer.from(n).toString("hex")).join(" ");

function expectCountersAddUp(c: AssemblerCounters, held = 0) {
  const dropped = Object.values(c.packetsDropped).reduce((x, y) => x + y, 0);
  expect(c.accepted + dropped).toBe(c.packets);
  expect(c.delivered + held).toBe(c.accepted);
}

for (const fixture of Object.values(FIXTURES)) {
  describe(`FrameAssembler on ${fixture.name}`, () => {
    const packets = readRtpFixture(fixture.name);
    const reference = readReferenceUnits(fixture.name);
    const refKeyframes = reference.flatMap((u, i) => (isKeyframe(u) ? [i] : []));

    test("push() in capture order gives every frame, byte-equal to the encoder's output", () => {
      const { a, frames, nacks, plis } = replay(packets);
      expect(reference).toHaveLength(fixture.frames);
      expect(frames).toHaveLength(fixture.frames);
      frames.forEach((f, i) => {
        expect(nalsOf(f.data)).toBe(nalsOf(joinAnnexB(reference[i]!)));
        expect(f.seq).toBe(i);
        expect(f.keyframe).toBe(refKeyframes.includes(i));
        expect(f).toMatchObject({ width: 320, height: 240 });
      });
      const first = splitAnnexB(frames[0]!.data).map((n) => n[0]! & 0x1f);
      expect(first.slice(0, 3)).toEqual([9, 7, 8]); // AUD, SPS, PPS before the IDR
      expect(nacks).toEqual([]);
      expect(plis).toEqual([]);
      expect(a.counters).toMatchObject({ framesOut: fixture.frames, lost: 0, packets: packets.length });
      expectCountersAddUp(a.counters);
    });

    test("the emitted Annex-B decodes with avdec_h264 to one picture per frame", () => {
      const why = gstUnavailable();
      if (why) return console.log(`skipped: ${why}`);
      const { frames } = replay(packets);
      expect(countDecodedPictures(concat(frames.map((f) => f.data)), 320, 240)).toBe(frames.length);
      // Any keyframe starts a decodable stream on its own (SPS/PPS in front of it).
      const from = refKeyframes.at(-1)!;
      const tail = frames.slice(from).map((f) => f.data);
      expect(countDecodedPictures(concat(tail), 320, 240)).toBe(frames.length - from);
    });

    test("push() recovers reordered and duplicated packets", () => {
      const random = prng(42);
      const shuffled = packets.slice();
      for (let i = 0; i + 4 < shuffled.length; i += 4) {
        const window = shuffled.slice(i, i + 4).sort(() => random() - 0.5);
        shuffled.splice(i, 4, ...window);
      }
      const withDups = shuffled.flatMap((p) => (random() < 0.1 ? [p, p] : [p]));
      const { a, frames, plis } = replay(withDups);
      expect(frames.map((f) => nalsOf(f.data))).toEqual(reference.map((u) => nalsOf(joinAnnexB(u))));
      expect(a.counters.packetsDropped.duplicate).toBe(withDups.length - packets.length);
      expect(a.counters.reordered).toBeGreaterThan(0);
      expect(plis).toEqual([]);
      expectCountersAddUp(a.counters);
    });

    test("push() follows sequence numbers across the 65535 → 0 wrap", () => {
      const wrapped = packets.map((p, i) => rewrite(p, { seq: (65500 + i) & 0xffff }));
      const { frames, a } = replay(wrapped);
      expect(frames).toHaveLength(fixture.frames);
      expect(a.counters.lost).toBe(0);
    });

    test("a packet retransmitted after its NACK fills the gap: its frame comes out whole, counted recovered", () => {
      const victim = Math.floor(packets.length / 2);
      const now = clock(packets);
      const a = new FrameAssembler({ payloadType: 96 });
      const frames: AccessUnit[] = [];
      const nacks: number[] = [];
      packets.forEach((bytes, i) => {
        if (i === victim) return;
        const out = a.push(bytes, now(bytes));
        frames.push(...out.frames);
        nacks.push(...out.nacks);
        if (i === victim + 1) frames.push(...a.push(packets[victim]!, now(bytes) + 30).frames); // the RTX answer, unwrapped
      });
      expect(nacks).toEqual([header(packets[victim]!).sequenceNumber]);
      expect(frames).toHaveLength(fixture.frames);
      expect(a.counters).toMatchObject({ recovered: 1, reordered: 1, lost: 0 });
    });

    test("one lost packet drops its frame, asks for a PLI, recovers at the next keyframe, and seq jumps", () => {
      const victimFrame = refKeyframes[1]! - 3;
      const ts = [...new Set(packets.map((p) => header(p).timestamp))][victimFrame];
      const victim = packets.findIndex((p) => header(p).timestamp === ts);
      const { a, frames, nacks, plis } = replay(packets.filter((_, i) => i !== victim));
      expect(nacks).toEqual(Array(3).fill(header(packets[victim]!).sequenceNumber)); // maxNacks
      expect(plis.length).toBeGreaterThanOrEqual(1);
      const expected = reference.map((_, i) => i).filter((i) => i < victimFrame || i >= refKeyframes[1]!);
      expect(frames.map((f) => nalsOf(f.data))).toEqual(expected.map((i) => nalsOf(joinAnnexB(reference[i]!))));
      // seq counts the frames dropped in between: the jump is exactly the frames lost.
      expect(frames.map((f) => f.seq)).toEqual(expected);
      expect(a.counters.lost).toBe(1);
      expect(a.counters.recovered).toBe(0);
      expect(a.counters.framesDropped["packet-lost"]).toBe(1);
      expect(a.counters.framesDropped["awaiting-keyframe"]).toBe(refKeyframes[1]! - victimFrame - 1);
    });
  });
}

describe("FrameAssembler", () => {
  const packets = readRtpFixture(FIXTURES.singleSlice.name);

  test("push() accepts werift's RtpPacket shape", () => {
    const a = new FrameAssembler();
    let frames = 0;
    for (const bytes of packets) {
      const p = header(bytes);
      frames += a.push({ header: { ...p }, payload: p.payload }, 0).frames.length;
    }
    expect(frames).toBe(FIXTURES.singleSlice.frames);
  });

  test("push() lets padding-only packets (RFC 3550 P bit) through without breaking frames", () => {
    const first = header(packets[0]!);
    const padding = (seq: number) => serializeRtpPacket({
      ...first, marker: false, sequenceNumber: seq, payload: new Uint8Array(0), paddingSize: 224,
    });
    const stream: Uint8Array[] = [];
    let seq = first.sequenceNumber;
    packets.forEach((p, i) => {
      stream.push(rewrite(p, { seq: seq++ }));
      if (i % 3 === 1) stream.push(padding(seq++)); // inside FU-A runs and between frames
    });
    const { a, frames } = replay(stream);
    expect(frames).toHaveLength(FIXTURES.singleSlice.frames);
    expect(a.counters.lost).toBe(0);
    // A lost padding packet looks like any loss: the frame around it is dropped.
    const { a: b } = replay(stream.filter((p) => p.length !== 12 + 224 || header(p).sequenceNumber !== first.sequenceNumber + 2));
    expect(b.counters.framesDropped["packet-lost"]).toBeGreaterThanOrEqual(1);
  });

  test("NACKs answered over a 5 % lossy link (20 ms RTT) recover ≥ 99 % of frames, none with a hole", () => {
    // One packet lost on all four tries (p ≈ 6e-6) costs the rest of its GOP: with 5,500
    // packets a seed can be that unlucky (seed 5 loses 2 packets, 97.8 % of frames).
    const random = prng(1);
    const stream: Uint8Array[] = [];
    let seq = header(packets[0]!).sequenceNumber;
    const span = 90 * 3000 + 3000;
    for (let round = 0; round < 20; round++) {
      for (const p of packets) {
        stream.push(rewrite(p, { seq: seq++, timestamp: header(p).timestamp + round * span }));
      }
    }
    const bySeq = new Map(stream.map((p) => [header(p).sequenceNumber, p]));
    const sendAt = clock(stream);
    // Events: [time, packet]; every transmission (first or resent) is lost with p = 0.05.
    const queue: [number, Uint8Array][] = [];
    const send = (t: number, p: Uint8Array) => random() >= 0.05 && queue.push([t, p]);
    for (const p of stream) send(sendAt(p), p);
    const a = new FrameAssembler({ payloadType: 96 });
    const frames: AccessUnit[] = [];
    const take = (now: number, out: ReturnType<FrameAssembler["poll"]>) => {
      frames.push(...out.frames);
      for (const n of out.nacks) send(now + 20, bySeq.get(n)!);
    };
    let now = 0;
    while (queue.length > 0) {
      queue.sort((x, y) => x[0] - y[0]);
      const [t, p] = queue[0]!;
      if (a.wakeAtMs <= t) {
        now = a.wakeAtMs;
        take(now, a.poll(now));
        continue;
      }
      queue.shift();
      now = t;
      take(now, a.push(p, now));
    }
    take(now + 1000, a.poll(now + 1000));
    const originals = new Set(readReferenceUnits(FIXTURES.singleSlice.name).map((u) => nalsOf(joinAnnexB(u))));
    expect(frames.every((f) => originals.has(nalsOf(f.data)))).toBe(true);
    expect(frames.length).toBeGreaterThanOrEqual(0.99 * 20 * FIXTURES.singleSlice.frames);
    expect(a.counters.nacks).toBeGreaterThan(0);
  });

  test("poll() declares a loss at wakeAtMs when packets stop", () => {
    const a = new FrameAssembler({ jitter: { lossWaitMs: 100 } });
    a.push(packets[0]!, 0);
    const out = a.push(packets[2]!, 10);
    expect(out.nacks).toEqual([header(packets[1]!).sequenceNumber]);
    expect(a.held).toBe(1);
    expect(a.wakeAtMs).toBe(50); // the NACK repeat comes first
    expect(a.poll(50).nacks).toEqual([header(packets[1]!).sequenceNumber]);
    expect(a.poll(109).drops).toEqual([]);
    const late = a.poll(110);
    expect(late.pli).toBe(true);
    expect(a.counters.lost).toBe(1);
    expect(a.held).toBe(0);
  });

  test("push() drops other SSRCs and payload types, switching to an SSRC that persists", () => {
    const a = new FrameAssembler({ payloadType: 96, ssrcSwitchAfter: 4 });
    a.push(packets[0]!, 0);
    const other = (i: number) => {
      const p = packets[i]!.slice();
      p[11] = p[11]! ^ 0xff;
      return p;
    };
    expect(a.push(other(1), 0).packetDrop).toBe("foreign-ssrc");
    const wrongPt = packets[1]!.slice();
    wrongPt[1] = (wrongPt[1]! & 0x80) | 100;
    expect(a.push(wrongPt, 0).packetDrop).toBe("foreign-payload-type");
    expect(a.push(Uint8Array.of(1, 2, 3), 0).packetDrop).toBe("malformed");
    for (let i = 2; i < 4; i++) expect(a.push(other(i), 0).packetDrop).toBe("foreign-ssrc");
    expect(a.push(other(4), 0).packetDrop).toBeUndefined();
    expectCountersAddUp(a.counters, a.held);
  });
});
