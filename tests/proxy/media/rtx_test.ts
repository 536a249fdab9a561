import { describe, expect, test } from "bun:test";
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { isRtx, type RtxMap, unwrapRtx, wrapRtx } from "../../../proxy/media/rtx.ts";
import { type AccessUnit, FrameAssembler } from "../../../proxy/media/frame_assembler.ts";
import { FIXTURES, readRtpFixture } from "./rtp_fixture.ts";

const map: RtxMap = { payloadTypes: new Map([[97, 96]]), ssrcs: new Map([[0xbbbb, 0xaaaa]]) };
const media: RtpPacket = {
  marker: true, payloadType: 96, sequenceNumber: 65535, timestamp: 123456, ssrc: 0xaaaa,
  csrcCount: 0, payload: Uint8Array.of(0x65, 9, 8, 7), paddingSize: 0,
};

describe("unwrapRtx()", () => {
  test("round-trips wrapRtx(): OSN, apt and the FID SSRC pairing (RFC 4588 §4)", () => {
    const rtx = wrapRtx(media, { payloadType: 97, ssrc: 0xbbbb, sequenceNumber: 7 });
    expect(rtx).toMatchObject({ payloadType: 97, ssrc: 0xbbbb, sequenceNumber: 7, timestamp: 123456 });
    expect([...rtx.payload.subarray(0, 2)]).toEqual([0xff, 0xff]);
    const wire = parseRtpPacket(serializeRtpPacket(rtx)) as RtpPacket;
    expect(isRtx(wire, map)).toBe(true);
    const back = unwrapRtx(wire, map) as RtpPacket;
    expect(back).toMatchObject({ payloadType: 96, ssrc: 0xaaaa, sequenceNumber: 65535, marker: true, timestamp: 123456 });
    expect([...back.payload]).toEqual([...media.payload]);
  });

  test("uses the fallback SSRC when the RTX SSRC is not paired", () => {
    const rtx = wrapRtx(media, { payloadType: 97, ssrc: 0xcccc, sequenceNumber: 1 });
    expect(unwrapRtx(rtx, map, 0x1234)).toMatchObject({ ssrc: 0x1234 });
  });

  test("reports padding-only RTX and non-RTX packets", () => {
    const probe = { ...media, payloadType: 97, payload: Uint8Array.of(0, 5) };
    expect(unwrapRtx(probe, map)).toBe("rtx-padding");
    expect(unwrapRtx(media, map)).toBe("not-rtx");
  });
});

describe("FrameAssembler with RTX", () => {
  test("a packet lost on the media stream and resent on RTX completes its frame", () => {
    const packets = readRtpFixture(FIXTURES.singleSlice.name);
    const ssrc = (parseRtpPacket(packets[0]!) as RtpPacket).ssrc;
    const a = new FrameAssembler({ payloadType: 96, rtx: { payloadTypes: new Map([[97, 96]]) } });
    const lostIndex = 2; // an FU-A packet of the first keyframe
    const frames: AccessUnit[] = [];
    let nacked: number[] = [];
    packets.forEach((bytes, i) => {
      if (i === lostIndex) return;
      const out = a.push(bytes, i);
      frames.push(...out.frames);
      nacked = nacked.concat(out.nacks);
      if (i === lostIndex + 2) {
        const original = parseRtpPacket(packets[lostIndex]!) as RtpPacket;
        expect(nacked).toEqual([original.sequenceNumber]);
        expect(frames).toEqual([]);
        const rtx = wrapRtx(original, { payloadType: 97, ssrc: ssrc ^ 1, sequenceNumber: 1 });
        frames.push(...a.push(serializeRtpPacket(rtx), i).frames);
      }
    });
    expect(frames[0]?.keyframe).toBe(true);
    expect(frames).toHaveLength(FIXTURES.singleSlice.frames);
    expect(a.counters).toMatchObject({ retransmissions: 1, lost: 0, reordered: 1 });
    expect(a.counters.framesDropped["packet-lost"]).toBe(0);
  });
});
