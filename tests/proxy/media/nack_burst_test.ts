// --max-nack-burst: a gap of up to `maxNackBurst` numbers is NACKed; a wider one is given up
// at once, without NACKs, counted, and (through the FrameAssembler) asks for a keyframe.
import { describe, expect, test } from "bun:test";
import { DEFAULT_MAX_NACK_BURST, JitterBuffer, type JitterSink } from "../../../proxy/media/jitter_buffer.ts";
import { FrameAssembler } from "../../../proxy/media/frame_assembler.ts";

function make(maxNackBurst?: number) {
  const jb = new JitterBuffer<number>({ lossWaitMs: 100, nackIntervalMs: 30, maxNacks: 3, maxNackBurst });
  const log = { released: [] as number[], lost: [] as number[], nacks: [] as number[] };
  const sink: JitterSink<number> = {
    release: (item) => log.released.push(item),
    lost: (seq) => log.lost.push(seq & 0xffff),
    nack: (seq) => log.nacks.push(seq),
  };
  return { jb, log, sink, push: (seq: number, now: number) => jb.push(seq, seq, now, sink) };
}

describe("JitterBuffer maxNackBurst", () => {
  test("defaults to 64: a jump of 1000 NACKs nothing and is given up at once", () => {
    expect(DEFAULT_MAX_NACK_BURST).toBe(64);
    const { jb, log, push } = make();
    push(1, 0);
    push(1002, 1); // 1000 missing (the old code NACKed all of them)
    expect(log.nacks).toEqual([]);
    expect(log.lost).toHaveLength(1000);
    expect(log.released).toEqual([1, 1002]); // nothing waits lossWaitMs behind a hopeless gap
    expect(jb.counters).toMatchObject({ nackBurstsCapped: 1, lost: 1000, nacks: 0 });
    expect(jb.wakeAtMs).toBe(Infinity);
  });

  test("a gap of exactly the bound is NACKed in full; one more is not", () => {
    const at = make(8);
    at.push(1, 0);
    at.push(10, 1); // 8 missing
    expect(at.log.nacks).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(at.jb.counters.nackBurstsCapped).toBe(0);
    const over = make(8);
    over.push(1, 0);
    over.push(11, 1); // 9 missing
    expect(over.log.nacks).toEqual([]);
    expect(over.log.lost).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(over.jb.counters.nackBurstsCapped).toBe(1);
    // The NACKs repeated by poll() are only those of NACKed gaps.
    over.jb.poll(50, over.sink);
    expect(over.log.nacks).toEqual([]);
  });

  test("a wide gap behind a NACKed one waits for it, then goes at once; a late packet may still fill it", () => {
    const { jb, log, push, sink } = make(8);
    push(1, 0);
    push(3, 1); // 2 NACKed
    push(20, 2); // 4..19 abandoned
    expect(log.nacks).toEqual([2]);
    expect(log.released).toEqual([1]);
    expect(push(5, 3)).toBe("reordered"); // a late packet inside the abandoned gap is kept
    expect(push(2, 4)).toBe("reordered"); // the retransmission of 2
    expect(log.released).toEqual([1, 2, 3, 5, 20]);
    expect(log.lost).toEqual([4, ...Array.from({ length: 14 }, (_, i) => 6 + i)]);
    expect(jb.held).toBe(0);
    jb.poll(1000, sink);
    expect(jb.counters).toMatchObject({ nackBurstsCapped: 1, lost: 15, accepted: 5, released: 5 });
  });

  test("with NACKs off (maxNacks 0) nothing is capped: gaps wait for reordering as before", () => {
    const jb = new JitterBuffer<number>({ lossWaitMs: 100, maxNacks: 0, maxNackBurst: 4 });
    const released: number[] = [];
    const sink: JitterSink<number> = { release: (i) => released.push(i), lost: () => undefined, nack: () => undefined };
    jb.push(1, 1, 0, sink);
    jb.push(50, 50, 1, sink);
    expect(released).toEqual([1]);
    expect(jb.counters.nackBurstsCapped).toBe(0);
  });
});

describe("FrameAssembler with a wide gap", () => {
  test("asks for a keyframe in the same output, and counts nackBurstsCapped", () => {
    const a = new FrameAssembler({ payloadType: 96, pliIntervalMs: 0 });
    const rtp = (seq: number, timestamp: number, payload: Uint8Array, marker = true) => ({
      header: { marker, payloadType: 96, sequenceNumber: seq, timestamp, ssrc: 1 }, payload,
    });
    const idr = Uint8Array.of(0x65, 0x88, 0x84, 0x00, 0x10);
    a.push(rtp(100, 0, Uint8Array.of(0x09, 0xf0), false), 0);
    a.push(rtp(101, 0, idr), 0);
    const out = a.push(rtp(400, 9000, Uint8Array.of(0x41, 0x9a, 0x02)), 100);
    expect(out.nacks).toEqual([]);
    expect(out.pli).toBe(true);
    expect(a.counters).toMatchObject({ nackBurstsCapped: 1, lost: 298, nacks: 0 });
  });
});
