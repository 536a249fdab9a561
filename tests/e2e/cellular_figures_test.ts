import { describe, expect, test } from "bun:test";
import { adaptFigures, type AdaptStatus, type BusFrame, busKbps, glassToBus, longestGapMs, percentile } from "./cellular_figures.ts";

const T0 = Date.parse("2025-01-01T00:00:00Z");
const frame = (rx: number, capture: number, bytes = 1000): BusFrame => ({ rx, capture, proxyRx: rx, bytes, key: false, source: "sender" });
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const adapt = (switches: [number, number, number][]): AdaptStatus => ({
  mode: "ladder", rung: 0, rungKbps: switches.at(-1)?.[2] ?? 4000, estimateKbps: null, switchesDown: 0, switchesUp: 0, droppedForLink: 0,
  switches: switches.map(([at, fromKbps, toKbps]) => ({ at: iso(at), fromKbps, toKbps, reason: "test" })),
});

describe("cellular figures", () => {
  test("`percentile()` is nearest-rank and null for no values", () => {
    expect(percentile([], 95)).toBeNull();
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 95)).toBe(95);
    expect(percentile([7], 100)).toBe(7);
  });

  test("`glassToBus()` takes the frames captured in the window, whenever they arrived", () => {
    const frames = [frame(T0 + 50, T0 - 10), frame(T0 + 400, T0 + 100), frame(T0 + 2500, T0 + 900), frame(T0 + 1300, T0 + 1200)];
    expect(glassToBus(frames, T0, T0 + 1000)).toEqual({ n: 2, p50: 300, p95: 1600, max: 1600 });
  });

  test("`longestGapMs()` counts the edges of the window, so no frame at all is the whole window", () => {
    const frames = [frame(T0 + 100, 0), frame(T0 + 300, 0), frame(T0 + 1500, 0)];
    expect(longestGapMs(frames, T0, T0 + 2000)).toBe(1200);
    expect(longestGapMs(frames, T0 + 1600, T0 + 2600)).toBe(1000);
    expect(longestGapMs([], T0, T0 + 5000)).toBe(5000);
  });

  test("`busKbps()` is the frame bodies that arrived in the window, in kbit/s", () => {
    const frames = Array.from({ length: 30 }, (_, i) => frame(T0 + i * 33, 0, 12_500));
    expect(busKbps(frames, T0, T0 + 1000)).toBe(3000); // 30 × 12 500 B in 1 s
  });

  test("`adaptFigures()` reads the first down switch, the rung in the drop and the way back up", () => {
    const link = { dropAt: T0 + 10_000, recoverAt: T0 + 30_000, topKbps: 4000, lowKbps: 1500 };
    const good = adaptFigures(adapt([[10_800, 4000, 2000], [11_500, 2000, 1000], [33_000, 1000, 2000], [36_000, 2000, 4000]]), link);
    expect(good).toEqual({ firstDownAfterMs: 800, maxKbpsInDrop: 1000, lowShareInDrop: 1, backToTopAfterMs: 6000, finalKbps: 4000 });
    // A probe up to 2000 during the drop shows, and its time; no switch at all leaves the top rung in effect.
    const probed = adaptFigures(adapt([[10_500, 4000, 1000], [20_000, 1000, 2000], [21_800, 2000, 1000]]), link);
    expect(probed.maxKbpsInDrop).toBe(2000);
    expect(probed.lowShareInDrop).toBe(+(1 - 1800 / 18_000).toFixed(3));
    expect(adaptFigures(adapt([]), link)).toEqual({ firstDownAfterMs: null, maxKbpsInDrop: 4000, lowShareInDrop: 0, backToTopAfterMs: null, finalKbps: 4000 });
    expect(adaptFigures(undefined, link).firstDownAfterMs).toBeNull();
  });
});
