// TileHysteresis (border wobble) and KeyframeGate (a joining push starts at a keyframe): pure.
import { describe, expect, test } from "bun:test";
import { KeyframeGate } from "../../../agent/handover/keyframe_gate.ts";
import { TileHysteresis } from "../../../agent/handover/tile_hysteresis.ts";
import type { LocationFix } from "../../../agent/location/location_fix.ts";

const fix = (tile: string): LocationFix => ({ lat: 0, lon: 0, tile, headerTile: tile });

describe("TileHysteresis", () => {
  test("`settledFix()` takes a new tile only once every fix for holdMs has been in it", () => {
    const h = new TileHysteresis({ holdMs: 3000 });
    h.observe(fix("A"), 0);
    expect(h.settledFix(0)?.tile).toBe("A");
    h.observe(fix("B"), 1000);
    expect(h.settledFix(3999)?.tile).toBe("A");
    expect(h.pendingTile).toBe("B");
    h.observe(fix("B"), 2000); // another fix in B does not restart the wait
    expect(h.settledFix(4000)?.tile).toBe("B");
    expect(h.counters).toEqual({ settled: 1, suppressed: 0 });
  });

  test("a border wobble faster than the hold never settles, and each turn back is counted", () => {
    const h = new TileHysteresis({ holdMs: 3000 });
    h.observe(fix("A"), 0);
    for (let t = 1500; t <= 30_000; t += 1500) {
      h.observe(fix(t % 3000 === 0 ? "A" : "B"), t);
      expect(h.settledFix(t + 1400)?.tile).toBe("A");
    }
    expect(h.counters.settled).toBe(0);
    expect(h.counters.suppressed).toBe(10);
  });

  test("a third tile restarts the wait; holdMs 0 settles at once", () => {
    const h = new TileHysteresis({ holdMs: 3000 });
    h.observe(fix("A"), 0);
    h.observe(fix("B"), 1000);
    h.observe(fix("C"), 3000);
    expect(h.settledFix(5999)?.tile).toBe("A");
    expect(h.settledFix(6000)?.tile).toBe("C");
    const now = new TileHysteresis({ holdMs: 0 });
    now.observe(fix("A"), 0);
    now.observe(fix("B"), 1);
    expect(now.settledFix(1)?.tile).toBe("B");
    expect(() => new TileHysteresis({ holdMs: -1 })).toThrow('TileHysteresis holdMs "-1" must be 0 or more');
  });
});

/** An RTP packet (12-byte header) carrying `payload`. */
const rtp = (...payload: number[]) => new Uint8Array([0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, ...payload]);

describe("KeyframeGate", () => {
  test("drops P-slices until the first packet of a keyframe (SPS, IDR, or an FU-A start of an IDR), then lets everything through", () => {
    const gate = new KeyframeGate();
    expect(gate.admit(rtp(0x41, 0x9a))).toBe(false); // non-IDR slice
    expect(gate.admit(rtp(0x7c, 0x01, 0x00))).toBe(false); // FU-A continuation of a P slice
    expect(gate.admit(rtp(0x7c, 0x05 | 0x40, 0x00))).toBe(false); // FU-A end of an IDR: not its start
    expect(gate.open).toBe(false);
    expect(gate.admit(rtp(0x7c, 0x85, 0x00))).toBe(true); // FU-A start of an IDR
    expect(gate.admit(rtp(0x41, 0x9a))).toBe(true);
    expect(gate.dropped).toBe(3);
    const sps = new KeyframeGate();
    expect(sps.admit(rtp(0x67, 0x42))).toBe(true);
  });
});
