import { describe, expect, test } from "bun:test";
import { JitterBuffer, type JitterBufferOptions, type JitterSink } from "../../../proxy/media/jitter_buffer.ts";

/** Records what the buffer decides; `released` holds the 16-bit numbers in release order. */
function recorder() {
  const log = { released: [] as number[], lost: [] as number[], nacks: [] as number[] };
  const sink: JitterSink<number> = {
    release: (item) => log.released.push(item),
    lost: (seq) => log.lost.push(seq & 0xffff),
    nack: (seq) => log.nacks.push(seq),
  };
  return { log, sink };
}

function make(options: JitterBufferOptions = {}) {
  const jb = new JitterBuffer<number>({ lossWaitMs: 100, nackIntervalMs: 30, maxNacks: 3, ...options });
  const { log, sink } = recorder();
  const push = (seq: number, now: number) => jb.push(seq, seq, now, sink);
  return { jb, log, sink, push };
}

describe("JitterBuffer", () => {
  test("push() releases in-order packets at once", () => {
    const { jb, log, push } = make();
    for (let s = 10; s < 15; s++) expect(push(s, 0)).toBe("accepted");
    expect(log.released).toEqual([10, 11, 12, 13, 14]);
    expect(jb.held).toBe(0);
  });

  test("push() holds packets behind a gap, NACKs it, and releases in order when it is filled", () => {
    const { jb, log, push } = make();
    push(1, 0);
    push(4, 1);
    expect(log.nacks).toEqual([2, 3]);
    push(3, 2);
    expect(log.released).toEqual([1]);
    expect(jb.held).toBe(2);
    expect(push(2, 3)).toBe("reordered");
    expect(log.released).toEqual([1, 2, 3, 4]);
    expect(jb.counters).toMatchObject({ accepted: 4, reordered: 2, released: 4, lost: 0 });
  });

  test("push() counts a packet that fills a NACKed gap as recovered (a retransmission)", () => {
    const { jb, log, push } = make();
    push(1, 0);
    push(3, 1); // 2 is NACKed
    expect(log.nacks).toEqual([2]);
    expect(push(2, 40)).toBe("reordered"); // the retransmission
    expect(jb.counters).toMatchObject({ reordered: 1, recovered: 1, lost: 0 });
    push(4, 41);
    expect(push(4, 42)).toBe("duplicate");
    expect(jb.counters.recovered).toBe(1);
    // Without NACKs nothing is asked for, so nothing is recovered, only reordered.
    const quiet = make({ maxNacks: 0 });
    quiet.push(1, 0);
    quiet.push(3, 1);
    quiet.push(2, 2);
    expect(quiet.jb.counters).toMatchObject({ reordered: 1, recovered: 0 });
  });

  test("push() with a lead-in NACKs the numbers before the first packet and releases what comes back first", () => {
    const { jb, log, sink } = make();
    jb.push(100, 100, 0, sink, 3);
    expect(log.nacks).toEqual([97, 98, 99]);
    expect(log.released).toEqual([]);
    jb.push(98, 98, 5, sink); // a retransmission; 97 and 99 never come
    jb.push(101, 101, 6, sink);
    jb.poll(30, sink);
    expect(log.nacks).toEqual([97, 98, 99, 97, 99]);
    jb.poll(100, sink);
    // 97 is given up quietly (the sender may never have had it); 99, after a packet it had,
    // is a loss.
    expect(log.released).toEqual([98, 100, 101]);
    expect(log.lost).toEqual([99]);
    expect(jb.counters).toMatchObject({ lost: 1, leadInUnused: 1, recovered: 1, released: 3 });
    // A lead-in applies only to the packet that starts the stream.
    jb.push(103, 103, 101, sink, 3);
    expect(log.nacks.at(-1)).toBe(102);
  });

  test("push() counts duplicates, held or already released", () => {
    const { jb, push } = make();
    push(1, 0);
    push(3, 0);
    expect(push(3, 0)).toBe("duplicate");
    expect(push(1, 0)).toBe("duplicate");
    expect(jb.counters.duplicates).toBe(2);
  });

  test("push() follows the sequence number across the 65535 → 0 wrap", () => {
    const { log, push } = make();
    for (const s of [65533, 65534, 0, 65535, 1, 2]) push(s, 0);
    expect(log.released).toEqual([65533, 65534, 65535, 0, 1, 2]);
    expect(log.nacks).toEqual([65535]);
  });

  test("poll() repeats NACKs on the fake clock, then declares the packet lost", () => {
    const { jb, log, sink, push } = make();
    push(100, 0);
    push(102, 5);
    expect(log.nacks).toEqual([101]);
    expect(jb.wakeAtMs).toBe(35);
    jb.poll(34, sink);
    expect(log.nacks).toEqual([101]);
    jb.poll(35, sink);
    expect(log.nacks).toEqual([101, 101]);
    jb.poll(65, sink);
    expect(log.nacks).toEqual([101, 101, 101]);
    expect(jb.wakeAtMs).toBe(105); // maxNacks reached: only the loss deadline is left
    jb.poll(104, sink);
    expect(log.released).toEqual([100]);
    jb.poll(105, sink);
    expect(log.lost).toEqual([101]);
    expect(log.released).toEqual([100, 102]);
    expect(jb.wakeAtMs).toBe(Infinity);
    expect(push(101, 106)).toBe("late");
    expect(jb.counters).toMatchObject({ lost: 1, late: 1, nacks: 3 });
  });

  test("push() declares overdue losses too, without poll()", () => {
    const { log, push } = make();
    push(1, 0);
    push(3, 0);
    push(4, 99);
    expect(log.released).toEqual([1]);
    push(5, 100);
    expect(log.lost).toEqual([2]);
    expect(log.released).toEqual([1, 3, 4, 5]);
  });

  test("push() drops far-away noise but follows a sender that restarted its numbering", () => {
    const { jb, log, push } = make({ capacity: 64, resyncAfter: 3 });
    push(1000, 0);
    push(1001, 0);
    expect(push(30000, 1)).toBe("out-of-window");
    expect(push(1002, 1)).toBe("accepted");
    expect(push(500, 2)).toBe("out-of-window");
    expect(push(501, 2)).toBe("out-of-window");
    expect(push(502, 2)).toBe("accepted");
    expect(push(503, 2)).toBe("accepted");
    expect(log.released).toEqual([1000, 1001, 1002, 502, 503]);
    expect(jb.counters).toMatchObject({ resyncs: 1, outOfWindow: 3 });
  });

  test("flush() releases everything held and declares every gap lost", () => {
    const { jb, log, sink, push } = make();
    push(1, 0);
    push(3, 0);
    push(5, 0);
    jb.flush(sink);
    expect(log.released).toEqual([1, 3, 5]);
    expect(log.lost).toEqual([2, 4]);
    expect(jb.held).toBe(0);
  });

  test("holds at most `capacity` sequence numbers, giving up the oldest gap to make room", () => {
    const { jb, log, push } = make({ capacity: 16, resyncAfter: 100 });
    push(0, 0);
    for (let s = 2; s < 17; s++) push(s, 0);
    expect(jb.held).toBe(15);
    expect(push(17, 0)).toBe("accepted");
    expect(log.lost).toEqual([1]);
    expect(log.released).toEqual([0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    // A jump of more than a capacity but less than two: what no longer fits is given up,
    // the rest of the gap is awaited (and NACKed) as usual.
    log.nacks.length = 0;
    expect(push(40, 1)).toBe("accepted");
    expect(log.lost).toEqual([1, 18, 19, 20, 21, 22, 23, 24]);
    expect(log.nacks).toEqual([25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
    expect(jb.held).toBe(1);
  });

  test("maxNacks 0 turns NACKs off", () => {
    const { log, push } = make({ maxNacks: 0 });
    push(1, 0);
    push(5, 0);
    expect(log.nacks).toEqual([]);
  });
});
