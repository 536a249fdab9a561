// Fuzz sweep of FrameAssembler: ≥ 100,000 packets from the captured streams, replayed many
// times (with padding-only packets mixed in) and damaged (lost, reordered, very late, duplicated, truncated, random bytes, FU
// header bits flipped, marker bits wrong). Seeded: a failure names its seed and reproduces.
//
// The oracle: every emitted frame is byte-equal to a frame of the original stream, a frame
// after any drop is a keyframe (so a decoder never sees a hole), frame numbers count emitted
// and dropped units alike (a consumer sees every drop as a seq jump), and the counters add up.
// Damage an RTP receiver cannot see is left out on purpose: a wrong payload under a valid
// header and a real sequence number is what SRTP authentication stops, not a depacketizer;
// and a marker bit forged between two whole slices of a multi-slice picture looks exactly
// like a complete picture, so markers are only ever set falsely on the single-slice stream.
// Likewise FU headers are damaged one at a time (never on two neighbouring packets): a forged
// E on one fragment and a forged S on the next make two well-formed NAL units out of one.

import { describe, expect, test } from "bun:test";
import { type AccessUnit, FrameAssembler } from "../../../proxy/media/frame_assembler.ts";
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { joinAnnexB } from "../../../shared/h264.ts";
import { FIXTURES, prng, readReferenceUnits, readRtpFixture, rewrite } from "./rtp_fixture.ts";

const PACKETS_PER_RUN = 13_000;
/** FUZZ_SEEDS=N runs seeds 1..N instead (a longer sweep by hand). */
const SEEDS = Array.from({ length: Number(process.env.FUZZ_SEEDS ?? 8) }, (_, i) => i + 1);

/**
 * The clean stream: the capture repeated with running sequence numbers and timestamps, with
 * a padding-only packet (RFC 3550 P bit, as senders use to probe bandwidth) now and then.
 */
function* cleanStream(packets: Uint8Array[], seed: number): Generator<Uint8Array> {
  const random = prng(seed ^ 0x5eed);
  const first = parseRtpPacket(packets[0]!) as RtpPacket;
  const last = parseRtpPacket(packets.at(-1)!) as RtpPacket;
  const span = ((last.timestamp - first.timestamp) >>> 0) + 3000;
  let seq = (seed * 7919) & 0xffff; // starts differ, and every run crosses 65535 → 0
  for (let round = 0; ; round++) {
    for (const p of packets) {
      const h = parseRtpPacket(p) as RtpPacket;
      const timestamp = h.timestamp + round * span;
      yield rewrite(p, { seq: seq++, timestamp });
      if (random() < 0.01) {
        yield serializeRtpPacket({ ...h, marker: false, sequenceNumber: seq++, timestamp,
          payload: new Uint8Array(0), paddingSize: 1 + Math.floor(random() * 255) });
      }
    }
  }
}

/** Damages the clean stream; returns the packets in delivery order. */
function damage(packets: Uint8Array[], seed: number, forgeMarkers: boolean): Uint8Array[] {
  const random = prng(seed);
  const out: Uint8Array[] = [];
  const pending: { at: number; p: Uint8Array }[] = []; // delayed packets (reordering)
  const clean = cleanStream(packets, seed);
  let lastFlip = -2;
  for (let n = 0; out.length < PACKETS_PER_RUN; n++) {
    let p = clean.next().value as Uint8Array;
    const r = random();
    if (r < 0.02) p = new Uint8Array(0); // lost
    else if (r < 0.05) pending.push({ at: out.length + 1 + Math.floor(random() * 12), p }), p = new Uint8Array(0);
    else if (r < 0.08) pending.push({ at: out.length + Math.floor(random() * 40), p: p.slice() });
    else if (r < 0.10) out.push(p.subarray(0, Math.floor(random() * 14))); // truncated copy first
    else if (r < 0.12) out.push(randomBytes(random));
    else if (r < 0.14 && p.length > 13 && (p[12]! & 0x1f) === 28 && n - lastFlip > 1) {
      p = flipFuBit(p, random);
      lastFlip = n;
    }
    else if (r < 0.15) p = rewrite(p, { marker: false });
    else if (r < 0.16 && forgeMarkers) p = rewrite(p, { marker: true });
    else if (r < 0.165) pending.push({ at: out.length + 300 + Math.floor(random() * 600), p }), p = new Uint8Array(0); // after its loss was declared
    if (p.length > 0) out.push(p);
    for (let i = pending.length - 1; i >= 0; i--) {
      if (pending[i]!.at <= out.length) out.push(pending.splice(i, 1)[0]!.p);
    }
  }
  return out;
}

function randomBytes(random: () => number): Uint8Array {
  const bytes = new Uint8Array(Math.floor(random() * 1300));
  for (let i = 0; i < bytes.length; i++) bytes[i] = random() * 256;
  if (random() < 0.5 && bytes.length > 0) bytes[0] = 0x80 | (bytes[0]! & 0x3f); // version 2
  return bytes;
}

/** Set or clear one of S, E (or both) in an FU-A header. */
function flipFuBit(p: Uint8Array, random: () => number): Uint8Array {
  const out = p.slice();
  out[13] = out[13]! ^ [0x80, 0x40, 0xc0][Math.floor(random() * 3)]!;
  return out;
}

const key = (data: Uint8Array) => Buffer.from(data).toString("base64");

for (const fixture of Object.values(FIXTURES)) {
  describe(`FrameAssembler fuzz on ${fixture.name}`, () => {
    const packets = readRtpFixture(fixture.name);
    const reference = readReferenceUnits(fixture.name);
    const originals = new Set(reference.map((u) => key(joinAnnexB(u))));
    // At stream start nothing can tell whether an AUD (no picture data) came before the first
    // packet received; the first frame may lack it, and decodes the same.
    const withoutAud = new Set(reference.map((u) => key(joinAnnexB(u.slice(1)))));
    const forgeMarkers = fixture === FIXTURES.singleSlice;

    for (const seed of SEEDS) {
      test(`seed ${seed}: never throws, never emits a frame with a hole, counters add up`, () => {
        const stream = damage(packets, seed, forgeMarkers);
        const a = new FrameAssembler({ payloadType: 96 });
        const frames: AccessUnit[] = [];
        const numbered: { seq: number; frame: boolean }[] = [];
        let dropsSinceFrame = 0;
        let badAfterDrop = 0;
        // Within one call, frames and drops come in two lists: put them back in stream order.
        const take = (out: ReturnType<FrameAssembler["push"]>) => {
          for (const d of out.drops) if (d.seq !== undefined) numbered.push({ seq: d.seq, frame: false });
          for (const f of out.frames) numbered.push({ seq: f.seq, frame: true });
          const events = [
            ...out.drops.map((d) => ({ ts: d.rtpTimestamp, drop: d.reason, frame: undefined })),
            ...out.frames.map((f) => ({ ts: f.rtpTimestamp, drop: undefined, frame: f })),
          ];
          const ref = events[0]?.ts ?? 0;
          events.sort((x, y) => ((x.ts - ref) | 0) - ((y.ts - ref) | 0));
          for (const { drop, frame } of events) {
            if (drop) {
              if (drop !== "no-picture") dropsSinceFrame++;
              continue;
            }
            if ((dropsSinceFrame > 0 || frames.length === 0) && !frame!.keyframe) badAfterDrop++;
            dropsSinceFrame = 0;
            frames.push(frame!);
          }
        };
        stream.forEach((p, i) => {
          take(a.push(p, i * 0.5));
          if (i % 97 === 0) take(a.poll(i * 0.5));
        });
        take(a.poll(Infinity));

        if (process.env.FUZZ_DEBUG) console.log(seed, JSON.stringify(a.counters));
        const strangers = frames.filter((f) =>
          !originals.has(key(f.data)) && !(f.seq === 0 && withoutAud.has(key(f.data)))
        );
        if (process.env.FUZZ_DEBUG) for (const f of strangers) console.log(f.seq, f.keyframe, f.rtpTimestamp, f.nals.map((n) => `${n[0]! & 31}:${n.length}`).join(" "));
        expect(strangers.length).toBe(0);
        expect(badAfterDrop).toBe(0);
        // Every unit from the first keyframe on took the next number, emitted or dropped: the
        // seq jumps between frames are exactly the drops in between.
        const bySeq = numbered.slice().sort((x, y) => x.seq - y.seq);
        expect(bySeq.map((n) => n.seq)).toEqual(bySeq.map((_, i) => i));
        expect(frames[0]!.seq).toBe(0);
        for (let i = 1; i < frames.length; i++) {
          const between = numbered.filter((n) => !n.frame && n.seq > frames[i - 1]!.seq && n.seq < frames[i]!.seq).length;
          expect(frames[i]!.seq - frames[i - 1]!.seq - 1).toBe(between);
        }
        expect(numbered.filter((n) => !n.frame).length).toBeGreaterThan(0);
        const c = a.counters;
        const packetDrops = Object.values(c.packetsDropped).reduce((x, y) => x + y, 0);
        expect(c.packets).toBe(stream.length);
        expect(c.accepted + packetDrops).toBe(c.packets);
        expect(c.delivered).toBe(c.accepted); // poll(Infinity) released everything
        expect(c.framesOut).toBe(frames.length);
        // The sweep must still let most of the stream through, or it proves little.
        expect(frames.length).toBeGreaterThan(stream.length / (packets.length / fixture.frames) / 20);
      });
    }
  });
}
