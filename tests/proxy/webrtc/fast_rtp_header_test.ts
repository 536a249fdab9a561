// The fast RtpHeader.deSerialize / RtpPacket.clone (proxy/webrtc/fast_rtp_header.ts) against
// werift's own, on the captured fixtures and on generated headers: padding, CSRCs, marker,
// every payload type, sequence numbers and timestamps at their wrap, and header extensions of
// every profile (RFC 8285 one- and two-byte, and another). Same fields, same order, same values.
import { beforeAll, describe, expect, test } from "bun:test";
import { RtpHeader, RtpPacket } from "werift";
import { fastRtpHeaderParser } from "../../../proxy/webrtc/fast_rtp_header.ts";
import { stockWerift } from "../../../proxy/webrtc/werift_fast_path.ts";
import { assertSame, probeRtpPackets } from "../../../proxy/webrtc/werift_fast_path_check.ts";
import { FIXTURES, readRtpFixture } from "../media/rtp_fixture.ts";
import { ensureFastPath, withStockWerift } from "./stock_werift.ts";

beforeAll(ensureFastPath);

/** What werift makes of `raw` (header, packet and clone), or the error it throws. */
function parseAll(raw: Buffer): unknown {
  try {
    const header = RtpHeader.deSerialize(raw);
    const packet = RtpPacket.deSerialize(raw);
    return { header, packet, clone: packet.clone() };
  } catch (error) {
    return { threw: (error as Error).constructor.name };
  }
}

function expectSameAsWerift(packets: Buffer[]): void {
  const stock = withStockWerift(() => packets.map(parseAll));
  const fast = packets.map(parseAll);
  for (let i = 0; i < packets.length; i++) assertSame(fast[i], stock[i], `packet ${i} (${packets[i]!.subarray(0, 16).toString("hex")})`);
}

/** An RTP packet with the given first byte, CSRCs, extension block and padding. */
function build(o: { b0?: number; marker?: boolean; pt?: number; seq?: number; ts?: number; ssrc?: number; csrc?: number[]; ext?: { profile: number; words: number[] }; payload?: number[]; pad?: number }): Buffer {
  const cc = o.csrc?.length ?? 0;
  const b0 = o.b0 ?? (0x80 | (o.pad ? 0x20 : 0) | (o.ext ? 0x10 : 0) | cc);
  const head = Buffer.alloc(12 + cc * 4);
  head[0] = b0;
  head[1] = (o.marker ? 0x80 : 0) | (o.pt ?? 96);
  head.writeUInt16BE(o.seq ?? 1, 2);
  head.writeUInt32BE(o.ts ?? 90000, 4);
  head.writeUInt32BE(o.ssrc ?? 0xcafe, 8);
  o.csrc?.forEach((c, i) => head.writeUInt32BE(c, 12 + i * 4));
  const parts = [head];
  if (o.ext) {
    const e = Buffer.alloc(4 + o.ext.words.length * 4);
    e.writeUInt16BE(o.ext.profile, 0);
    e.writeUInt16BE(o.ext.words.length, 2);
    o.ext.words.forEach((w, i) => e.writeUInt32BE(w >>> 0, 4 + i * 4));
    parts.push(e);
  }
  parts.push(Buffer.from(o.payload ?? [0x65, 0x88, 0x84]));
  if (o.pad) parts.push(Buffer.from([...Array(o.pad - 1).fill(0), o.pad]));
  return Buffer.concat(parts);
}

describe("fast RtpHeader.deSerialize and RtpPacket.clone", () => {
  test("are installed in place of werift's", () => {
    expect(RtpHeader.deSerialize).not.toBe(stockWerift().deSerialize);
    expect(RtpPacket.prototype.clone).not.toBe(stockWerift().clone);
  });

  test("equal werift's on every packet of the captured fixtures", () => {
    for (const fixture of Object.values(FIXTURES)) {
      const packets = readRtpFixture(fixture.name).map((p) => Buffer.from(p));
      expect(packets.length).toBeGreaterThan(100);
      expectSameAsWerift(packets);
    }
  });

  test("equal werift's on generated headers: marker, payload types, wrap values, padding, CSRCs", () => {
    const packets: Buffer[] = [];
    for (let pt = 0; pt < 128; pt++) packets.push(build({ pt, marker: pt % 2 === 0 }));
    for (const seq of [0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff]) {
      for (const ts of [0, 0x7fffffff, 0x80000000, 0xffffffff]) packets.push(build({ seq, ts, ssrc: (ts ^ 0xdeadbeef) >>> 0 }));
    }
    for (const pad of [1, 2, 4, 255]) packets.push(build({ pad, marker: true }));
    for (let n = 1; n <= 15; n++) packets.push(build({ csrc: Array.from({ length: n }, (_, i) => 0x1000 + i), marker: n % 2 === 0 }));
    packets.push(build({ csrc: [1, 2], pad: 3 }));
    for (const b0 of [0x00, 0x40, 0xc0, 0xa0, 0xe0]) packets.push(build({ b0 }));
    packets.push(build({ payload: [] }), ...probeRtpPackets());
    expectSameAsWerift(packets);
  });

  test("equal werift's with header extensions of every profile, well-formed or not", () => {
    const packets = [
      build({ ext: { profile: 0xbede, words: [0x10aa0000] } }), // one-byte, id 1, 1 octet, padding
      build({ ext: { profile: 0xbede, words: [0x22aabbcc, 0x31ddee00] } }),
      build({ ext: { profile: 0xbede, words: [0xf0000000] } }), // id 15: werift stops there
      build({ ext: { profile: 0x1000, words: [0x0102aabb, 0x02010000] } }), // two-byte (RFC 8285 §4.3)
      build({ ext: { profile: 0x1234, words: [0x01020304] } }), // another profile
      build({ ext: { profile: 0xbede, words: [] } }),
      build({ ext: { profile: 0xbede, words: [0x10aa0000] }, csrc: [7], pad: 2, marker: true }),
      build({ ext: { profile: 0xbede, words: [0x10aa0000] }, pad: 3 }),
      build({ ext: { profile: 0xbede, words: [0x0031abcd] } }), // padding octet first
      build({ ext: { profile: 0xbede, words: [0x05aabbcc, 0xddeeff00] } }), // id 0 with data: werift keeps it
      build({ ext: { profile: 0xbede, words: [0x17010203] } }), // element past the block
      build({ ext: { profile: 0xbede, words: [0x17010203] }, payload: [] }), // and past the packet
      build({ ext: { profile: 0xbede, words: [0x31abcd00, 0xf0000000] } }), // id 15 after an element
    ];
    expectSameAsWerift(packets);
  });

  test("parses the common header and one-byte extensions without calling werift's parser", () => {
    let calls = 0;
    const parse = fastRtpHeaderParser(RtpHeader.prototype, (raw) => {
      calls++;
      return stockWerift().deSerialize(raw);
    });
    parse(build({ marker: true }));
    parse(build({ pad: 4 }));
    parse(build({ ext: { profile: 0xbede, words: [0] } }));
    const twcc = parse(build({ ext: { profile: 0xbede, words: [0x31ab_cd00] }, payload: [0x65, 9] }));
    expect(calls).toBe(0);
    expect(twcc.extensions).toEqual([{ id: 3, payload: Buffer.from([0xab, 0xcd]) }]);
    expect(twcc.payloadOffset).toBe(20);
    parse(build({ csrc: [1] }));
    parse(build({ ext: { profile: 0x1000, words: [0x0101aa00] } }));
    parse(build({ ext: { profile: 0xbede, words: [0xf0000000] } }));
    parse(build({ ext: { profile: 0xbede, words: [0x17010203] } })); // 8 octets in a 4-octet block
    expect(calls).toBe(4);
  });

  test("clone copies the header (a new object, shallow like werift's) and keeps the payload", () => {
    const packet = RtpPacket.deSerialize(build({ marker: true, seq: 9 }));
    const clone = packet.clone();
    expect(clone.header).not.toBe(packet.header);
    expect(clone.header).toBeInstanceOf(RtpHeader);
    expect(clone.payload).toBe(packet.payload);
    clone.header.sequenceNumber = 10;
    expect(packet.header.sequenceNumber).toBe(9);
    expect(clone.header.csrc).toBe(packet.header.csrc);
    expect(clone.serialize().equals(build({ marker: true, seq: 10 }))).toBe(true);
  });
});
