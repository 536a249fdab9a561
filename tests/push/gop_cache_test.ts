import { describe, expect, test } from "bun:test";
import { GopCache, gopStartType, rtpPayloadOffset } from "../../agent/push/gop_cache.ts";

/** An RTP packet with timestamp `ts` and H.264 payload `payload`. */
function rtp(seq: number, ts: number, payload: number[]): Uint8Array {
  const p = new Uint8Array(12 + payload.length);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = seq >> 8;
  p[3] = seq & 0xff;
  new DataView(p.buffer).setUint32(4, ts);
  p.set(payload, 12);
  return p;
}
const SPS = [0x67, 0x42];
const PPS = [0x68, 0xce];
const IDR_FU_START = [0x7c, 0x85, 0x00];
const IDR_FU_MID = [0x7c, 0x05, 0x00];
const P_SLICE = [0x41, 0x9a];
const seqOf = (p: Uint8Array) => (p[2]! << 8) | p[3]!;

describe("gopStartType()", () => {
  test("finds SPS, IDR, STAP-A with SPS, FU-A start of IDR; not FU-A middles or P slices", () => {
    expect(gopStartType(new Uint8Array(SPS))).toBe(7);
    expect(gopStartType(new Uint8Array([0x65, 0x88]))).toBe(5);
    expect(gopStartType(new Uint8Array([0x78, 0x00, 0x02, 0x67, 0x42]))).toBe(7);
    expect(gopStartType(new Uint8Array(IDR_FU_START))).toBe(5);
    expect(gopStartType(new Uint8Array(IDR_FU_MID))).toBe(0);
    expect(gopStartType(new Uint8Array(P_SLICE))).toBe(0);
    expect(gopStartType(new Uint8Array([0x67]))).toBe(0);
  });
});

describe("rtpPayloadOffset()", () => {
  test("skips CSRCs and a header extension, and rejects truncated headers", () => {
    const p = new Uint8Array(12 + 4 + 8 + 2);
    p[0] = 0x80 | 0x10 | 1; // X, CC=1
    p[12 + 4 + 3] = 1; // extension length 1 word
    expect(rtpPayloadOffset(p)).toBe(12 + 4 + 4 + 4);
    expect(rtpPayloadOffset(new Uint8Array(11))).toBe(-1);
  });
});

describe("GopCache", () => {
  test("take() returns the packets from the last SPS on, a new GOP replacing the old", () => {
    const cache = new GopCache();
    cache.push(rtp(1, 100, P_SLICE)); // mid-GOP, nothing held: ignored
    cache.push(rtp(2, 200, SPS));
    cache.push(rtp(3, 200, PPS));
    cache.push(rtp(4, 200, IDR_FU_START));
    cache.push(rtp(5, 200, IDR_FU_MID));
    cache.push(rtp(6, 300, P_SLICE));
    expect(cache.size).toBe(5);
    cache.push(rtp(7, 400, SPS));
    cache.push(rtp(8, 400, PPS));
    cache.push(rtp(9, 400, IDR_FU_START));
    cache.push(rtp(10, 400, IDR_FU_START)); // second slice of the same IDR picture
    expect(cache.take().map(seqOf)).toEqual([7, 8, 9, 10]);
    expect(cache.size).toBe(0);
  });

  test("an IDR without SPS starts a GOP too", () => {
    const cache = new GopCache();
    cache.push(rtp(1, 100, IDR_FU_START));
    cache.push(rtp(2, 200, P_SLICE));
    cache.push(rtp(3, 300, IDR_FU_START));
    expect(cache.take().map(seqOf)).toEqual([3]);
  });

  test("a GOP longer than maxPackets is dropped and counted, not grown", () => {
    const cache = new GopCache({ maxPackets: 3 });
    cache.push(rtp(1, 100, SPS));
    for (let i = 2; i < 10; i++) cache.push(rtp(i, 100 + i, P_SLICE));
    expect(cache.size).toBe(0);
    expect(cache.overflows).toBe(1);
  });
});
