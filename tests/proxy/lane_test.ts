import { describe, expect, test } from "bun:test";
import { Lane, type Queued } from "../../proxy/bus/lane.ts";

const item = (seq: number, size = 10): Queued => ({
  seq, queuedAt: 0, msg: { exchange: "x", routingKey: "k", body: new Uint8Array(size) },
});

describe("Lane", () => {
  test("refuses the newest message when full by count or bytes, and counts the drop", () => {
    const lane = new Lane("a", { maxMessages: 2, maxBytes: 25 });
    expect(lane.push(item(1))).toBe(true);
    expect(lane.push(item(2))).toBe(true);
    expect(lane.push(item(3))).toBe(false);
    expect(lane.shift()!.seq).toBe(1);
    expect(lane.push(item(4, 20))).toBe(false); // 10 + 20 > 25 bytes
    expect(lane.stats()).toMatchObject({ depth: 1, bytes: 10, dropped: { overflow: 2 } });
  });

  test("drop-oldest evicts the head to make room", () => {
    const settled: boolean[] = [];
    const lane = new Lane("a", { maxMessages: 2, maxBytes: 1000, overflow: "drop-oldest" });
    for (const seq of [1, 2, 3]) lane.push({ ...item(seq), msg: { ...item(seq).msg, onSettled: (ok) => settled.push(ok) } });
    expect(lane.shift()!.seq).toBe(2);
    expect(lane.shift()!.seq).toBe(3);
    expect(settled).toEqual([false]);
    expect(lane.dropped.overflow).toBe(1);
  });

  test("requeue puts failed messages back in publish order", () => {
    const lane = new Lane("a", { maxMessages: 10, maxBytes: 1000, retry: true });
    lane.push(item(5));
    lane.requeue(item(2));
    lane.requeue(item(3));
    expect([lane.shift()!.seq, lane.shift()!.seq, lane.shift()!.seq]).toEqual([2, 3, 5]);
  });

  test("stays O(1) per message over many messages (compaction keeps order)", () => {
    const lane = new Lane("a", { maxMessages: 100_000, maxBytes: 1e9 });
    for (let i = 0; i < 50_000; i++) lane.push(item(i, 1));
    for (let i = 0; i < 50_000; i++) expect(lane.shift()!.seq).toBe(i);
    expect(lane.depth).toBe(0);
    expect(lane.bytes).toBe(0);
  });
});
