import { describe, expect, test } from "bun:test";
import { LinkShaper } from "./link_shaper.ts";

/** Offers a 1200-byte datagram every `offerEveryMs` for `ms` ms, releasing every ms (a fake clock); the bytes that came out. */
function drive(shaper: LinkShaper<number>, options: { from: number; ms: number; offerEveryMs: number; droppable?: boolean }) {
  let out = 0;
  let n = 0;
  for (let t = options.from; t < options.from + options.ms; t++) {
    if ((t - options.from) % options.offerEveryMs === 0) shaper.offer(n++, 1200, t, options.droppable ?? true);
    out += shaper.release(t).length * 1200;
  }
  return out;
}

describe("LinkShaper", () => {
  test("`release()` holds a sender above the rate to the rate and drops at the queue limit", () => {
    // 4.8 Mbit/s (1200 B/2 ms) into 1.5 Mbit/s for 10 s, 64 KB queue.
    const shaper = new LinkShaper<number>({ rateBps: 1_500_000, queueLimitBytes: 65_536 }, 0);
    const out = drive(shaper, { from: 0, ms: 10_000, offerEveryMs: 2 });
    const outBps = (out * 8) / 10;
    expect(outBps).toBeGreaterThan(1_500_000 * 0.97);
    expect(outBps).toBeLessThan(1_500_000 * 1.03);
    expect(shaper.totals.drops).toBeGreaterThan(0);
    expect(shaper.queuedBytes).toBeLessThanOrEqual(65_536);
    // A full 64 KB queue at 1.5 Mbit/s is 350 ms of delay.
    expect(shaper.totals.maxDelayMs).toBeGreaterThan(300);
    expect(shaper.totals.maxDelayMs).toBeLessThan(360);
  });

  test("`release()` passes a sender below the rate without drops or delay beyond one datagram", () => {
    const shaper = new LinkShaper<number>({ rateBps: 8_000_000 }, 0);
    const out = drive(shaper, { from: 0, ms: 5_000, offerEveryMs: 2 });
    expect(shaper.totals.drops).toBe(0);
    expect(out).toBe(shaper.totals.inBytes);
    expect(shaper.totals.maxDelayMs).toBe(0);
  });

  test("`release()` lets a burst up to the bucket depth through at once, the rest at the rate", () => {
    const shaper = new LinkShaper<number>({ rateBps: 8_000_000, burstMs: 15 }, 0); // depth 15 000 B
    for (let i = 0; i < 40; i++) shaper.offer(i, 1200, 0); // a 48 KB keyframe
    expect(shaper.release(0).length).toBe(12); // 14 400 B of 15 000
    expect(shaper.nextReleaseAt(0)).toBeCloseTo(0.6, 5); // 600 B more at 1 000 B/ms
    let later = 0;
    for (let t = 1; t <= 34; t++) later += shaper.release(t).length;
    expect(later).toBe(28); // 33 600 B at 1 000 B/ms: by 34 ms
  });

  test("`offer()` never drops a datagram that is not droppable (handshakes), even over the limit", () => {
    const shaper = new LinkShaper<number>({ rateBps: 100_000, queueLimitBytes: 2_400 }, 0);
    for (let i = 0; i < 5; i++) expect(shaper.offer(i, 1200, 0, false)).toBe(true);
    expect(shaper.offer(9, 1200, 0)).toBe(false);
    expect(shaper.queuedBytes).toBe(6_000);
  });

  test("`setRate()` takes effect at once: the out-rate follows 8 → 1.5 → 8 Mbit/s", () => {
    const shaper = new LinkShaper<number>({ rateBps: 8_000_000 }, 0);
    const rate = (from: number) => (drive(shaper, { from, ms: 2_000, offerEveryMs: 1 }) * 8) / 2; // 9.6 Mbit/s offered
    const first = rate(0); // plus the full bucket it starts with (15 ms of rate)
    expect(first).toBeGreaterThan(8_000_000 * 0.99);
    expect(first).toBeLessThan(8_000_000 * 1.01);
    shaper.setRate(1_500_000, 2_000);
    expect(rate(2_000)).toBeLessThan(1_500_000 * 1.03);
    shaper.setRate(8_000_000, 4_000);
    expect(rate(4_000)).toBeGreaterThan(8_000_000 * 0.97);
    const window = shaper.takeWindow();
    expect(window.inBytes).toBe(shaper.totals.inBytes);
    expect(shaper.takeWindow().inBytes).toBe(0);
  });

  test("`setRate()` rejects a rate that is not positive", () => {
    expect(() => new LinkShaper<number>({ rateBps: 0 }, 0)).toThrow('link rate "0" must be a positive number of bit/s');
  });

  test("`nextReleaseAt()` is undefined for an empty queue and never before `now`", () => {
    const shaper = new LinkShaper<number>({ rateBps: 1_000_000 }, 0);
    expect(shaper.nextReleaseAt(0)).toBeUndefined();
    shaper.offer(1, 1200, 5);
    expect(shaper.nextReleaseAt(5)).toBe(5);
  });
});
