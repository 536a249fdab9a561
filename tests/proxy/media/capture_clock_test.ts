// The proxy's side of capture time on real packets: the agent's CaptureStamper stamps a gst
// capture (tests/fixtures), the FrameAssembler reads the stamps back into each unit's
// captureTimeMs; CaptureClock's RTP-clock placement of unstamped pictures, across the 2^32 wrap.
import { describe, expect, test } from "bun:test";
import { CaptureStamper } from "../../../agent/push/capture_stamp.ts";
import { type AccessUnit, FrameAssembler } from "../../../proxy/media/frame_assembler.ts";
import { CaptureClock, extensionElement, MAX_EXTRAPOLATION_S } from "../../../proxy/media/capture_clock.ts";
import { parseRtpPacket, type RtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { encodeAbsCaptureTime } from "../../../shared/mod.ts";
import { FIXTURES, readRtpFixture } from "./rtp_fixture.ts";

const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const timestampOf = (p: Uint8Array) => (parseRtpPacket(p) as RtpPacket).timestamp;

/** Stamps `packets` as the agent does, each picture at T0 + (its RTP time) + 7 ms; returns them and the stamps. */
function stamped(packets: Uint8Array[]): { packets: Uint8Array[]; stamps: Map<number, number> } {
  const stamper = new CaptureStamper();
  const ts0 = timestampOf(packets[0]!);
  const stamps = new Map<number, number>();
  const out = packets.map((p) => {
    const ts = timestampOf(p);
    const ms = T0 + ((ts - ts0) >>> 0) / 90 + 7;
    const s = stamper.stamp(p, ms);
    if (s !== p) stamps.set(ts, ms);
    return s;
  });
  return { packets: out, stamps };
}

function assemble(packets: Uint8Array[], absCaptureTimeId?: number): AccessUnit[] {
  const a = new FrameAssembler({ payloadType: 96, absCaptureTimeId });
  const frames: AccessUnit[] = [];
  for (const p of packets) frames.push(...a.push(p, T0 + 1000).frames);
  frames.push(...a.poll(T0 + 5000).frames);
  return frames;
}

describe("FrameAssembler with abs-capture-time", () => {
  for (const fixture of [FIXTURES.singleSlice, FIXTURES.multiSlice]) {
    test(`every unit of the ${fixture.name} capture gets its picture's stamp as captureTimeMs`, () => {
      const { packets, stamps } = stamped(readRtpFixture(fixture.name));
      expect(stamps.size).toBe(fixture.frames);
      const frames = assemble(packets, 1);
      expect(frames.length).toBe(fixture.frames);
      for (const f of frames) expect(f.captureTimeMs).toBeCloseTo(stamps.get(f.rtpTimestamp)!, 3);
    });
  }

  test("without the negotiated id, units have no captureTimeMs (the stamp is not read)", () => {
    const { packets } = stamped(readRtpFixture(FIXTURES.singleSlice.name));
    expect(assemble(packets).every((f) => f.captureTimeMs === undefined)).toBe(true);
  });

  test("a picture whose stamp did not arrive (werift's RTX unwrap drops extensions) is placed from the newest stamp by its RTP timestamp", () => {
    const { packets, stamps } = stamped(readRtpFixture(FIXTURES.multiSlice.name));
    // Picture 10's stamped packet arrives without its stamp (X cleared, block cut).
    const ts10 = [...stamps.keys()][10]!;
    const at = packets.findIndex((p) => timestampOf(p) === ts10 && (p[0]! & 0x10) !== 0);
    const p = packets[at]!;
    const plain = new Uint8Array(p.length - 16);
    plain.set(p.subarray(0, 12));
    plain[0] = plain[0]! & ~0x10;
    plain.set(p.subarray(28), 12);
    packets[at] = plain;
    const frame = assemble(packets, 1).find((f) => f.rtpTimestamp === ts10)!;
    // Its neighbours' stamps are its RTP time + 7 ms: so is the placement.
    expect(frame.captureTimeMs).toBeCloseTo(stamps.get(ts10)!, 3);
  });
});

describe("CaptureClock", () => {
  test("exact stamps first; others by the RTP clock from the newest stamp, signed across the 2^32 wrap", () => {
    const clock = new CaptureClock();
    expect(clock.captureTimeOf(1234)).toBeUndefined(); // nothing known: no guess
    const near = 0xffff_f000; // 4096 ticks before the wrap
    clock.noteStamp(near, encodeAbsCaptureTime(T0), T0 + 50);
    expect(clock.captureTimeOf(near)).toBeCloseTo(T0, 3);
    // 3000 ticks (one 30 fps picture) after the wrap is 7096 ticks = 78.84 ms after the stamp…
    expect(clock.captureTimeOf(3000)).toBeCloseTo(T0 + 7096 / 90, 3);
    // …and a picture before the stamp (in the jitter buffer still) lies before it.
    expect(clock.captureTimeOf(near - 9000)).toBeCloseTo(T0 - 100, 3);
    expect(clock.counters).toEqual({ stamps: 1, badStamps: 0, extrapolated: 2 });
    // Further than MAX_EXTRAPOLATION_S from the stamp: unknown rather than guessed.
    expect(clock.captureTimeOf((near + (MAX_EXTRAPOLATION_S + 1) * 90_000) >>> 0)).toBeUndefined();
    clock.reset();
    expect(clock.captureTimeOf(near)).toBeUndefined();
  });

  test("a stamp of the wrong size is counted, not used", () => {
    const clock = new CaptureClock();
    clock.noteStamp(1, new Uint8Array(5), T0);
    expect(clock.counters.badStamps).toBe(1);
    expect(clock.captureTimeOf(1)).toBeUndefined();
  });
});

describe("extensionElement()", () => {
  test("finds an element in the one-byte (RFC 8285 §4.2) and two-byte (§4.3) forms, past padding", () => {
    // One-byte: id 3 len 2, padding, id 1 len 8.
    const one = new Uint8Array([0x31, 0xaa, 0xbb, 0x00, 0x17, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0]);
    expect([...extensionElement(0xbede, one, 1)!]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...extensionElement(0xbede, one, 3)!]).toEqual([0xaa, 0xbb]);
    expect(extensionElement(0xbede, one, 2)).toBeUndefined();
    // Two-byte: id 20 len 8.
    const two = new Uint8Array([0, 20, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
    expect([...extensionElement(0x1000, two, 20)!]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("stops at id 15 (§4.2), at a truncated element, and at an unknown profile", () => {
    expect(extensionElement(0xbede, new Uint8Array([0xf0, 0x17, 1, 2, 3, 4, 5, 6, 7, 8]), 1)).toBeUndefined();
    expect(extensionElement(0xbede, new Uint8Array([0x17, 1, 2, 3]), 1)).toBeUndefined();
    expect(extensionElement(0x1234, new Uint8Array([0x17, 1, 2, 3, 4, 5, 6, 7, 8]), 1)).toBeUndefined();
  });
});
