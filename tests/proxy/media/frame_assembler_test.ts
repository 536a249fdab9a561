import { describe, expect, test } from "bun:test";
import {
  type AccessUnit,
  type AssemblerCounters,
  FrameAssembler,
} from "../../../proxy/media/frame_assembler.ts";
import { DEFAULT_LOSS_WAIT_MS, DEFAULT_MAX_NACKS } from "../../../proxy/media/jitter_buffer.ts";
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
  const take = (out: ReturnType<FrameAssembler["poll"]>) => {
    frames.push(...out.frames);
    nacks.push(...out.nacks);
    if (out.pli) plis.push(last);
  };
  for (const bytes of packets) {
    // As the WHIP session does: poll at wakeAtMs between arrivals.
    while (a.wakeAtMs <= now(bytes)) take(a.poll(last = a.wakeAtMs));
    take(a.push(bytes, last = now(bytes)));
  }
  const end = a.poll(last + 1000);
  frames.push(...end.frames);
  return { a, frames, nacks, plis };
}

/** Each frame's NAL units in hex, for comparing with the reference stream. */
const nalsOf = (data: Uint8Array) => splitAnnexB(data).map((n) => Buffer.from(n).toString("hex")).join(" ");

/** Type of the first NAL unit in a packet (inside a STAP-A, its first one). */
function firstNalType(bytes: Uint8Array): number {
  const p = header(bytes).payload;
  return (p[0]! & 0x1f) === 24 ? p[3]! & 0x1f : p[0]! & 0x1f;
}

/** How many packets the stream opens with before its first one that is no access-unit head
 * (AUD, SPS, PPS, or a STAP-A of them). */
function headPackets(packets: Uint8Array[]): number {
  return packets.findIndex((b) => ![7, 8, 9].includes(firstNalType(b)));
}

/** The packet carries only NAL units that precede a picture (AUD, SEI, SPS, PPS), alone or
 * in a STAP-A (RFC 6184 §5.7.1). */
function parameterSetsOnly(bytes: Uint8Array): boolean {
  const p = header(bytes).payload;
  const types: number[] = [];
  if ((p[0]! & 0x1f) !== 24) types.push(p[0]! & 0x1f);
  else for (let i = 1; i + 2 < p.length; i += 2 + ((p[i]! << 8) | p[i + 1]!)) types.push(p[i + 2]! & 0x1f);
  return types.every((t) => [6, 7, 8, 9].includes(t));
}

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

    test("a file sender's marker on every parameter-set-only packet (AUD/SPS/PPS/SEI, alone or in a STAP-A) loses no frame: byte-equal and decodable", () => {
      const marked = packets.map((b) => (parameterSetsOnly(b) ? rewrite(b, { marker: true }) : b));
      expect(marked.filter((b, i) => b !== packets[i]).length).toBeGreaterThanOrEqual(fixture.keyframes.length);
      const { a, frames, plis } = replay(marked);
      expect(frames).toHaveLength(fixture.frames);
      frames.forEach((f, i) => {
        expect(nalsOf(f.data)).toBe(nalsOf(joinAnnexB(reference[i]!)));
        expect(f.seq).toBe(i);
      });
      expect(plis).toEqual([]);
      expect(a.counters.framesDropped).toMatchObject({ "no-picture": 0, "after-marker": 0, "awaiting-keyframe": 0 });
      const why = gstUnavailable();
      if (why) return console.log(`decode check skipped: ${why}`);
      expect(countDecodedPictures(concat(frames.map((f) => f.data)), 320, 240)).toBe(frames.length);
    });

    test("in a packetization-mode 0 session STAP-A/FU-A packets are still assembled, and counted", () => {
      const aggregated = packets.filter((b) => [24, 28].includes(header(b).payload[0]! & 0x1f)).length;
      expect(aggregated).toBeGreaterThan(0);
      const { a, frames } = replay(packets, new FrameAssembler({ payloadType: 96, packetizationMode: 0 }));
      expect(frames).toHaveLength(fixture.frames);
      expect(a.counters.outOfModePackets).toBe(aggregated);
      expect(replay(packets).a.counters.outOfModePackets).toBe(0);
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

    test("the stream's first packets lost (AUD, SPS): the numbers before the first one received are NACKed and the retransmissions make the first keyframe whole", () => {
      const now = clock(packets);
      const k = headPackets(packets);
      const a = new FrameAssembler({ payloadType: 96 });
      const first = a.push(packets[k]!, now(packets[k]!));
      const firstSeq = header(packets[k]!).sequenceNumber;
      expect(first.nacks).toEqual([8, 7, 6, 5, 4, 3, 2, 1].map((d) => (firstSeq - d) & 0xffff));
      expect(first.frames).toEqual([]);
      const frames: AccessUnit[] = [];
      for (let i = 0; i < k; i++) frames.push(...a.push(packets[i]!, 20).frames); // the RTX answers
      for (const bytes of packets.slice(k + 1)) frames.push(...a.push(bytes, now(bytes) + 20).frames);
      frames.push(...a.poll(now(packets.at(-1)!) + 1000).frames);
      expect(frames.map((f) => nalsOf(f.data))).toEqual(reference.map((u) => nalsOf(joinAnnexB(u))));
      expect(a.counters).toMatchObject({ lost: 0, recovered: k });
      expect(Object.values(a.counters.framesDropped).reduce((x, y) => x + y)).toBe(0);
    });

    test("lead-in numbers the sender never had are given up quietly after the loss wait: no loss counted, no PLI", () => {
      const now = clock(packets);
      const k = headPackets(packets);
      const a = new FrameAssembler({ payloadType: 96 });
      const t0 = now(packets[k]!);
      expect(a.push(packets[k]!, t0).nacks).toHaveLength(8);
      expect(a.held).toBe(1);
      expect(a.wakeAtMs).toBeLessThanOrEqual(t0 + DEFAULT_LOSS_WAIT_MS);
      let pli = false;
      for (let t = t0; t <= t0 + DEFAULT_LOSS_WAIT_MS; t = Math.max(t + 1, a.wakeAtMs)) pli ||= a.poll(t).pli;
      expect(a.held).toBe(0);
      expect(pli).toBe(false);
      expect(a.counters.lost).toBe(0);
      // The keyframe lacks its SPS: dropped as such, and the stream goes on at the next one.
      const frames: AccessUnit[] = [];
      for (const bytes of packets.slice(k + 1)) frames.push(...a.push(bytes, now(bytes) + DEFAULT_LOSS_WAIT_MS).frames);
      expect(a.counters.framesDropped["missing-parameter-sets"]).toBe(1);
      expect(frames[0]?.keyframe).toBe(true);
    });

    test("a stream that starts at an AUD or SPS is not held back: no lead-in", () => {
      const starts = [...packets.keys()].slice(0, headPackets(packets)).filter((i) => [7, 9].includes(firstNalType(packets[i]!)));
      expect(starts.length).toBeGreaterThan(0);
      for (const start of starts) {
        const a = new FrameAssembler({ payloadType: 96 });
        const out = a.push(packets[start]!, 0);
        expect(out.nacks).toEqual([]);
        expect(a.held).toBe(0);
      }
    });

    test("one lost packet drops its frame, asks for a PLI, recovers at the next keyframe, and seq jumps", () => {
      const victimFrame = refKeyframes[1]! - 3;
      const ts = [...new Set(packets.map((p) => header(p).timestamp))][victimFrame];
      const victim = packets.findIndex((p) => header(p).timestamp === ts);
      const { a, frames, nacks, plis } = replay(packets.filter((_, i) => i !== victim));
      expect(nacks).toEqual(Array(DEFAULT_MAX_NACKS).fill(header(packets[victim]!).sequenceNumber));
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
    // A packet lost on all seven tries (p ≈ 8e-10) would cost the rest of its GOP.
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
