// packetizeH264(): RFC 6184 single NAL units and FU-A, checked by reassembling them with the
// proxy's own depacketizer (FrameAssembler) into the same NAL units.
import { describe, expect, test } from "bun:test";
import { FrameAssembler } from "../../../proxy/media/frame_assembler.ts";
import { DEFAULT_MAX_PAYLOAD, packetizeH264 } from "../../../proxy/whep/h264_packetizer.ts";
import { keyframe, nal, pframe } from "./units.ts";

describe("packetizeH264()", () => {
  test("a small NAL unit goes out whole (single NAL unit packet, §5.6), marker on the last", () => {
    const out = packetizeH264([nal(0x67, 12), nal(0x68, 4), nal(0x41, 100)]);
    expect(out.map((p) => p.payload.length)).toEqual([12, 4, 100]);
    expect(out.map((p) => p.marker)).toEqual([false, false, true]);
    expect(out[0]!.payload[0]).toBe(0x67);
  });

  test("a large NAL unit becomes FU-A fragments (§5.8): S on the first, E on the last, NRI kept", () => {
    const idr = nal(0x65, 3000);
    const out = packetizeH264([idr], 1000);
    expect(out.length).toBe(Math.ceil(2999 / 998));
    expect(out.every((p) => p.payload.length <= 1000)).toBe(true);
    expect(out.map((p) => p.payload[0])).toEqual(out.map(() => 0x60 | 28));
    expect(out.map((p) => p.payload[1]! & 0xc0)).toEqual([0x80, ...Array(out.length - 2).fill(0), 0x40]);
    expect(out.every((p) => (p.payload[1]! & 0x1f) === 5)).toBe(true);
    const body = Buffer.concat(out.map((p) => p.payload.subarray(2)));
    expect(Buffer.compare(body, Buffer.from(idr.subarray(1)))).toBe(0);
    expect(out.map((p) => p.marker).lastIndexOf(true)).toBe(out.length - 1);
  });

  test("filler data (type 12) is not sent", () => {
    expect(packetizeH264([nal(0x41, 50), nal(0x0c, 30)]).length).toBe(1);
  });

  test("units reassemble to the same NAL units with the proxy's depacketizer", () => {
    const assembler = new FrameAssembler({ payloadType: 96 });
    const units = [keyframe(0, 5000), pframe(1, 1500), pframe(2, 200)];
    let seq = 100;
    const got = units.flatMap((u) =>
      packetizeH264(u.nals).flatMap(({ payload, marker }) =>
        assembler.push({ header: { marker, payloadType: 96, sequenceNumber: seq++, timestamp: u.rtpTimestamp, ssrc: 1 }, payload }, 0).frames));
    const flushed = assembler.poll(10_000).frames;
    const frames = [...got, ...flushed];
    expect(frames.length).toBe(3);
    frames.forEach((f, i) => {
      expect(f.keyframe).toBe(units[i]!.keyframe);
      expect(f.nals.map((n) => Buffer.from(n).toString("hex"))).toEqual(units[i]!.nals.map((n) => Buffer.from(n).toString("hex")));
    });
  });

  test("the default payload size leaves room for RTP, SRTP and IP headers under 1280 bytes", () => {
    expect(DEFAULT_MAX_PAYLOAD + 12 + 10 + 28).toBeLessThan(1280);
    expect(() => packetizeH264([nal(0x41, 10)], 2)).toThrow(/leaves no room/);
  });
});
