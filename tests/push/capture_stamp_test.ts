// The agent's capture stamps on a real gst capture (tests/fixtures): one abs-capture-time per
// picture, on its first packet after the access unit delimiter, which werift sends under the
// negotiated id (or not at all), and which the GOP cache replays with the keyframe.
import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { RtpPacket } from "werift";
import { offsetClock, systemClock } from "../../agent/clock.ts";
import { CAPTURE_STAMP_ID, CaptureStamper, STAMP_BYTES } from "../../agent/push/capture_stamp.ts";
import { GopCache } from "../../agent/push/gop_cache.ts";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { weriftPacket } from "../../agent/push/werift_packet.ts";
import { decodeAbsCaptureTime, NalType, nalType } from "../../shared/mod.ts";

const read = (name: string) => new RtpStreamReader().push(new Uint8Array(readFileSync(new URL(`../fixtures/${name}.rtp`, import.meta.url))));
const MULTI = read("h264_320x240_multi_slice"); // 60 pictures, AUD first, keyframes at 0 and 30
const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const tsOf = (p: Uint8Array) => ((p[4]! << 24) | (p[5]! << 16) | (p[6]! << 8) | p[7]!) >>> 0;
const hasStamp = (p: Uint8Array) => (p[0]! & 0x10) !== 0;

function stampAll(packets: Uint8Array[]): Uint8Array[] {
  const stamper = new CaptureStamper();
  return packets.map((p, i) => stamper.stamp(p, T0 + i));
}

describe("CaptureStamper", () => {
  test("stamps exactly one packet per picture: the first after its access unit delimiter", () => {
    const out = stampAll(MULTI);
    const stamped = out.filter(hasStamp);
    expect(new Set(MULTI.map(tsOf)).size).toBe(60);
    expect(stamped.length).toBe(60);
    expect(nalType(MULTI[0]![12]!)).toBe(NalType.aud);
    expect(hasStamp(out[0]!)).toBe(false);
    expect(hasStamp(out[1]!)).toBe(true);
    for (let i = 0; i < out.length; i++) {
      if (!hasStamp(out[i]!)) expect(out[i]).toBe(MULTI[i]!); // untouched, no copy
      else expect(out[i]!.length).toBe(MULTI[i]!.length + STAMP_BYTES);
    }
  });

  test("werift's own parser reads the stamp: id CAPTURE_STAMP_ID, the picture's time, the payload unchanged", () => {
    const stamper = new CaptureStamper();
    const p = stamper.stamp(MULTI[1]!, T0 + 0.5);
    const parsed = RtpPacket.deSerialize(Buffer.from(p));
    expect(parsed.header.extensions.map((e) => e.id)).toEqual([CAPTURE_STAMP_ID]);
    expect(decodeAbsCaptureTime(parsed.header.extensions[0]!.payload, T0)).toBeCloseTo(T0 + 0.5, 3);
    expect(Buffer.compare(parsed.payload, Buffer.from(MULTI[1]!.subarray(12)))).toBe(0);
    expect(stamper.counters).toEqual({ stamped: 1, unstampable: 0 });
  });

  test("a picture whose first packet already has an extension or CSRCs is counted, not stamped", () => {
    const stamper = new CaptureStamper();
    const odd = MULTI[1]!.slice();
    odd[0] = odd[0]! | 0x01;
    expect(stamper.stamp(odd, T0)).toBe(odd);
    expect(stamper.counters).toEqual({ stamped: 0, unstampable: 1 });
  });

  test("the GOP cache replays the keyframe with its stamp (it starts a GOP at the SPS, after the delimiter)", () => {
    const out = stampAll(MULTI);
    const gop = new GopCache();
    const k30 = [...new Set(MULTI.map(tsOf))][30]!;
    const end = out.findIndex((p) => tsOf(p) === k30) + 40; // into the GOP of picture 30
    for (const p of out.slice(0, end)) gop.push(p);
    const held = gop.take();
    expect(tsOf(held[0]!)).toBe(k30);
    expect(hasStamp(held[0]!)).toBe(true);
  });
});

describe("weriftPacket() with a capture stamp", () => {
  const stamped = new CaptureStamper().stamp(MULTI[1]!, T0);

  test("sends it under the negotiated id, parsed without werift's string-based parser", () => {
    const packet = weriftPacket(stamped, 9);
    expect(packet).toBeInstanceOf(RtpPacket);
    const wire = RtpPacket.deSerialize((packet as RtpPacket).serialize());
    expect(wire.header.extensions.map((e) => e.id)).toEqual([9]);
    expect(decodeAbsCaptureTime(wire.header.extensions[0]!.payload, T0)).toBeCloseTo(T0, 3);
    expect(Buffer.compare(wire.payload, Buffer.from(MULTI[1]!.subarray(12)))).toBe(0);
  });

  test("leaves it out when the session negotiated no abs-capture-time: the packet gst wrote", () => {
    const packet = weriftPacket(stamped, undefined) as RtpPacket;
    expect(Buffer.compare(packet.serialize(), Buffer.from(MULTI[1]!))).toBe(0);
  });
});

describe("offsetClock()", () => {
  test("shifts now() by the offset and keeps the timers", () => {
    const behind = offsetClock(systemClock, -200);
    const a = Date.now();
    const b = behind.now();
    expect(a - b).toBeGreaterThanOrEqual(199);
    expect(a - b).toBeLessThan(250);
    expect(behind.setTimeout).toBe(systemClock.setTimeout);
    expect(offsetClock(systemClock, 0)).toBe(systemClock);
  });
});
