import { describe, expect, test } from "bun:test";
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { FIXTURES, readRtpFixture } from "./rtp_fixture.ts";

const base = {
  marker: true, payloadType: 96, sequenceNumber: 0xfffe, timestamp: 0xfedcba98, ssrc: 0x01020304,
  payload: Uint8Array.of(0x65, 1, 2, 3),
};

describe("parseRtpPacket()", () => {
  test("reads a captured rtph264pay packet", () => {
    const first = readRtpFixture(FIXTURES.singleSlice.name)[0]!;
    const p = parseRtpPacket(first) as RtpPacket;
    expect(typeof p).toBe("object");
    expect(p).toMatchObject({ payloadType: 96, marker: false, csrcCount: 0, paddingSize: 0 });
    expect(p.payload.length).toBe(first.length - 12);
    expect(p.payload[0]! & 0x1f).toBe(24); // STAP-A with AUD + SPS + PPS
    expect(p.payload.buffer).toBe(first.buffer);
  });

  test("round-trips CSRCs, a one-byte-header extension and padding", () => {
    const extension = Uint8Array.of(0x10, 0xaa, 0, 0, 0x21, 1, 2, 0);
    const bytes = serializeRtpPacket({ ...base, csrcCount: 2, extension, paddingSize: 3 });
    expect(bytes.length).toBe(12 + 8 + 4 + 8 + 4 + 3);
    const p = parseRtpPacket(bytes) as RtpPacket;
    expect(p).toMatchObject({
      marker: true, payloadType: 96, sequenceNumber: 0xfffe, timestamp: 0xfedcba98,
      ssrc: 0x01020304, csrcCount: 2, extensionProfile: 0xbede, paddingSize: 3,
    });
    expect([...p.extension!]).toEqual([...extension]);
    expect([...p.payload]).toEqual([...base.payload]);
  });

  test("names what is wrong with bytes that are not RTP", () => {
    const good = serializeRtpPacket(base);
    expect(parseRtpPacket(good.subarray(0, 11))).toBe("too-short");
    const v1 = good.slice();
    v1[0] = 0x40;
    expect(parseRtpPacket(v1)).toBe("bad-version");
    const cc = good.slice();
    cc[0] = 0x80 | 3; // three CSRCs announced, 4 bytes follow the header
    expect(parseRtpPacket(cc)).toBe("truncated-csrc");
    const ext = serializeRtpPacket({ ...base, extension: new Uint8Array(8) });
    expect(parseRtpPacket(ext.subarray(0, 14))).toBe("truncated-extension");
    expect(parseRtpPacket(ext.subarray(0, 20))).toBe("truncated-extension");
    const pad = good.slice();
    pad[0] = 0xa0; // P=1, last octet says 3 (payload is 4 bytes): fine; 200 is not
    expect(parseRtpPacket(pad)).toMatchObject({ paddingSize: 3 });
    pad[pad.length - 1] = 200;
    expect(parseRtpPacket(pad)).toBe("bad-padding");
    pad[pad.length - 1] = 0;
    expect(parseRtpPacket(pad)).toBe("bad-padding");
  });

  test("parses every fixture packet", () => {
    for (const f of Object.values(FIXTURES)) {
      for (const bytes of readRtpFixture(f.name)) expect(typeof parseRtpPacket(bytes)).toBe("object");
    }
  });
});

describe("serializeRtpPacket()", () => {
  test("rejects an extension that is not whole 32-bit words", () => {
    expect(() => serializeRtpPacket({ ...base, extension: new Uint8Array(3) }))
      .toThrow('RTP header extension length "3" is not a multiple of 4');
  });
});
