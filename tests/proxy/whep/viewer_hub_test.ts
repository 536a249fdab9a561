// ViewerHub: every unit to every viewer; a joining viewer gets the cached GOP at once with
// timestamps squeezed before the newest, or a keyframe request when no GOP is cached.
import { describe, expect, test } from "bun:test";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";
import { type HubViewer, ViewerHub } from "../../../proxy/whep/viewer_hub.ts";
import { keyframe, pframe } from "./units.ts";

function recorder(): HubViewer & { got: { seq: number; ts: number }[] } {
  const got: { seq: number; ts: number }[] = [];
  return { got, push: (unit: AccessUnit, ts = unit.rtpTimestamp) => (got.push({ seq: unit.seq, ts }), { queued: true, wantKeyframe: false }) };
}

describe("ViewerHub", () => {
  test("add() with no GOP cached asks for a keyframe; then the viewer gets the live units", () => {
    let requests = 0;
    const hub = new ViewerHub(() => requests++);
    const v = recorder();
    hub.add(v);
    expect(requests).toBe(1);
    hub.onUnit(keyframe(0));
    hub.onUnit(pframe(1));
    expect(v.got.map((g) => g.seq)).toEqual([0, 1]);
    expect(hub.joinsWaiting).toBe(1);
  });

  test("add() mid-GOP replays the GOP from its keyframe at once, one tick apart before the newest", () => {
    let requests = 0;
    const hub = new ViewerHub(() => requests++);
    hub.onUnit(pframe(0)); // before any keyframe: not cached
    for (let i = 1; i <= 4; i++) hub.onUnit(i === 2 ? keyframe(i) : pframe(i));
    const v = recorder();
    hub.add(v);
    expect(requests).toBe(0);
    expect(v.got).toEqual([{ seq: 2, ts: 12000 - 2 }, { seq: 3, ts: 12000 - 1 }, { seq: 4, ts: 12000 }]);
    hub.onUnit(pframe(5));
    expect(v.got.at(-1)).toEqual({ seq: 5, ts: 15000 });
  });

  test("a GOP longer than the cache bound is not cached (the joiner waits for a requested keyframe)", () => {
    let requests = 0;
    const hub = new ViewerHub(() => requests++, { maxUnits: 3 });
    hub.onUnit(keyframe(0));
    for (let i = 1; i <= 3; i++) hub.onUnit(pframe(i));
    expect(hub.cachedUnits).toBe(0);
    hub.add(recorder());
    expect(requests).toBe(1);
    hub.onUnit(keyframe(4));
    expect(hub.cachedUnits).toBe(1);
  });

  test("remove() stops delivery to that viewer only", () => {
    const hub = new ViewerHub(() => {});
    const a = recorder();
    const b = recorder();
    hub.add(a);
    hub.add(b);
    hub.onUnit(keyframe(0));
    expect(hub.remove(a)).toBe(true);
    hub.onUnit(pframe(1));
    expect(a.got.length).toBe(1);
    expect(b.got.length).toBe(2);
  });
});
