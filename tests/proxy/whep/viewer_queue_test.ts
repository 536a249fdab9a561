// ViewerQueue: starts at a keyframe, bounded by frames and bytes, a full queue drops the
// viewer's own frames (counted by reason) up to the next keyframe, which starts it over.
import { describe, expect, test } from "bun:test";
import { ViewerQueue } from "../../../proxy/whep/viewer_queue.ts";
import { keyframe, pframe } from "./units.ts";

describe("ViewerQueue", () => {
  test("offer() drops P-frames before the first keyframe and asks for a keyframe once", () => {
    const q = new ViewerQueue();
    expect(q.offer(pframe(0))).toEqual({ queued: false, wantKeyframe: true });
    expect(q.offer(pframe(1))).toEqual({ queued: false, wantKeyframe: false });
    expect(q.offer(keyframe(2)).queued).toBe(true);
    expect(q.offer(pframe(3)).queued).toBe(true);
    expect(q.dropped["before-keyframe"]).toBe(2);
    expect(q.depth).toBe(2);
  });

  test("offer() on a full queue drops, then skips P-frames until a keyframe, which replaces the backlog", () => {
    const q = new ViewerQueue({ maxUnits: 3 });
    q.offer(keyframe(0));
    q.offer(pframe(1));
    q.offer(pframe(2));
    expect(q.offer(pframe(3))).toEqual({ queued: false, wantKeyframe: true });
    q.take(); // room again, but the next P-frame lacks its reference
    expect(q.offer(pframe(4))).toEqual({ queued: false, wantKeyframe: false });
    expect(q.dropped).toEqual({ "before-keyframe": 0, "queue-full": 1, "after-drop": 1 });
    expect(q.offer(keyframe(5)).queued).toBe(true);
    expect(q.take()!.unit.seq).toBe(1);
    expect(q.offer(pframe(6)).queued).toBe(true);
    expect([...Array(q.depth)].map(() => q.take()!.unit.seq)).toEqual([2, 5, 6]);
  });

  test("offer() of a keyframe into a full queue drops the backlog (counted) and keeps the keyframe", () => {
    const q = new ViewerQueue({ maxUnits: 2 });
    q.offer(keyframe(0));
    q.offer(pframe(1));
    expect(q.offer(keyframe(2)).queued).toBe(true);
    expect(q.dropped["queue-full"]).toBe(2);
    expect(q.take()!.unit.seq).toBe(2);
    expect(q.take()).toBeUndefined();
  });

  test("the byte bound holds too, and take() keeps the byte count", () => {
    const q = new ViewerQueue({ maxBytes: 5000 });
    q.offer(keyframe(0, 3000));
    expect(q.offer(pframe(1, 3000)).queued).toBe(false);
    expect(q.bytes).toBe(keyframe(0, 3000).data.length);
    q.take();
    expect(q.bytes).toBe(0);
    expect(q.droppedTotal).toBe(1);
  });

  test("offer() keeps the timestamp the caller gives", () => {
    const q = new ViewerQueue();
    q.offer(keyframe(7), 42);
    expect(q.take()!.timestamp).toBe(42);
  });
});
