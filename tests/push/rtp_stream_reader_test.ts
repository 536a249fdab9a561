import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { readRtpStream, RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";

const FIXTURE = new Uint8Array(readFileSync(new URL("../fixtures/h264_320x240_single_slice.rtp", import.meta.url)));

/** Frames of `fixture`, split the slow obvious way. */
function frames(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o + 2 <= bytes.length;) {
    const n = (bytes[o]! << 8) | bytes[o + 1]!;
    out.push(bytes.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return out;
}

function rtp(seq: number, size = 20): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = seq >> 8;
  p[3] = seq & 0xff;
  return p;
}

function framed(...packets: Uint8Array[]): Uint8Array {
  const total = packets.reduce((n, p) => n + 2 + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of packets) {
    out[o] = p.length >> 8;
    out[o + 1] = p.length & 0xff;
    out.set(p, o + 2);
    o += 2 + p.length;
  }
  return out;
}

describe("RtpStreamReader", () => {
  test("push() yields every packet of a captured rtpstreampay stream fed in one chunk", () => {
    const expected = frames(FIXTURE);
    const reader = new RtpStreamReader();
    const got = reader.push(FIXTURE);
    expect(expected.length).toBeGreaterThan(100);
    expect(got.length).toBe(expected.length);
    got.forEach((p, i) => expect(p).toEqual(expected[i]!));
    expect(reader.pendingBytes).toBe(0);
    expect(reader.counters.packets).toBe(expected.length);
  });

  test("push() gives the same packets whatever the chunk boundaries (incl. inside the length)", () => {
    const expected = frames(FIXTURE);
    for (const size of [1, 2, 3, 7, 1000, 4096]) {
      const reader = new RtpStreamReader();
      const got: Uint8Array[] = [];
      for (let o = 0; o < FIXTURE.length; o += size) got.push(...reader.push(FIXTURE.slice(o, o + size)));
      expect(got.length).toBe(expected.length);
      got.forEach((p, i) => expect(p).toEqual(expected[i]!));
      expect(reader.end()).toBe(0);
    }
  });

  test("push() with random chunk sizes keeps order and content", () => {
    const expected = frames(FIXTURE);
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 3000) + 1;
    const reader = new RtpStreamReader();
    const got: Uint8Array[] = [];
    for (let o = 0; o < FIXTURE.length;) {
      const n = rand();
      got.push(...reader.push(FIXTURE.subarray(o, o + n)));
      o += n;
    }
    expect(got).toEqual(expected);
  });

  test("push() counts and skips empty, runt and non-RTP frames instead of returning them", () => {
    const bad = rtp(2);
    bad[0] = 0x40; // version 1
    const reader = new RtpStreamReader();
    const got = reader.push(framed(rtp(1), new Uint8Array(0), new Uint8Array(5), bad, rtp(3)));
    expect(got.map((p) => (p[2]! << 8) | p[3]!)).toEqual([1, 3]);
    expect(reader.counters).toMatchObject({ packets: 2, emptyFrames: 1, runtFrames: 1, badVersion: 1 });
  });

  test("end() reports the bytes of a truncated last frame", () => {
    const whole = framed(rtp(1), rtp(2, 100));
    const reader = new RtpStreamReader();
    expect(reader.push(whole.subarray(0, whole.length - 10)).length).toBe(1);
    expect(reader.pendingBytes).toBe(2 + 90);
    expect(reader.end()).toBe(92);
    expect(reader.pendingBytes).toBe(0);
  });

  test("a maximal 65535-byte frame is assembled from many chunks", () => {
    const big = rtp(9, 65535);
    const bytes = framed(big);
    const reader = new RtpStreamReader();
    const got: Uint8Array[] = [];
    for (let o = 0; o < bytes.length; o += 1000) got.push(...reader.push(bytes.subarray(o, o + 1000)));
    expect(got.length).toBe(1);
    expect(got[0]!.length).toBe(65535);
  });
});

describe("readRtpStream()", () => {
  test("reads a web ReadableStream to its end", async () => {
    const bytes = framed(rtp(1), rtp(2), rtp(3));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 5));
        c.enqueue(bytes.slice(5, 40));
        c.enqueue(bytes.slice(40));
        c.close();
      },
    });
    const seqs: number[] = [];
    const { reader, truncatedBytes } = await readRtpStream(stream, (p) => seqs.push((p[2]! << 8) | p[3]!));
    expect(seqs).toEqual([1, 2, 3]);
    expect(truncatedBytes).toBe(0);
    expect(reader.counters.packets).toBe(3);
  });
});
