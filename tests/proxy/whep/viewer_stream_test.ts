// ViewerStream: push() never waits for the sender; a sender that hangs (slow viewer) makes
// only this viewer drop frames; RTP sequence numbers stay contiguous across drops.
import { describe, expect, test } from "bun:test";
import type { RtpPacket } from "werift";
import { ViewerStream } from "../../../proxy/whep/viewer_stream.ts";
import { keyframe, pframe } from "./units.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("ViewerStream", () => {
  test("sends queued frames after start(): marker on each frame's last packet, the unit's timestamp", async () => {
    const sent: RtpPacket[] = [];
    const stream = new ViewerStream(async (p) => void sent.push(p), { firstSeq: 65534 });
    stream.push(keyframe(0, 3000));
    stream.push(pframe(1, 100));
    await tick();
    expect(sent.length).toBe(0); // not connected yet
    stream.start();
    for (let i = 0; i < 10 && stream.busy; i++) await tick();
    expect(sent.map((p) => p.header.sequenceNumber)).toEqual([65534, 65535, 0, 1, 2, 3]);
    expect(sent.map((p) => p.header.marker)).toEqual([false, false, false, false, true, true]);
    expect(sent.map((p) => p.header.timestamp)).toEqual([0, 0, 0, 0, 0, 3000]);
    expect(stream.counters.framesSent).toBe(2);
  });

  test("a sender that never completes: push() returns at once and the viewer drops its own frames", async () => {
    let calls = 0;
    const stream = new ViewerStream(() => {
      calls++;
      return new Promise(() => {});
    }, { maxUnits: 10 });
    stream.start();
    const started = performance.now();
    for (let i = 0; i < 300; i++) stream.push(i % 30 === 0 ? keyframe(i) : pframe(i));
    expect(performance.now() - started).toBeLessThan(200);
    await tick();
    expect(calls).toBe(1);
    expect(stream.queue.depth).toBeLessThanOrEqual(10);
    expect(stream.queue.dropped["queue-full"] + stream.queue.dropped["after-drop"]).toBeGreaterThan(250);
  });

  test("close() discards what waits and stops sending", async () => {
    const sent: RtpPacket[] = [];
    const stream = new ViewerStream(async (p) => void sent.push(p));
    stream.push(keyframe(0));
    stream.close();
    stream.start();
    await tick();
    expect(sent.length).toBe(0);
    expect(stream.push(keyframe(1)).queued).toBe(false);
  });
});
