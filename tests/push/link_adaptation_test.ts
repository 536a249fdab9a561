// LinkEstimator and LinkAdaptation against a simulated uplink: a 3-rung ladder's packets go
// through LinkAdaptation.select() into a bottleneck (a rate, a drop-tail queue, 20 ms each
// way), whose receiver answers TWCC feedback every 11 packets as werift's ReceiverTWCC does
// (first delta from the previous feedback's last packet, deltas floored to 250 µs, a lost
// packet reported without a delta). Deterministic, on a simulated millisecond clock; the real
// link is in tests/e2e/cellular_test.ts.
import { describe, expect, test } from "bun:test";
import { LinkAdaptation } from "../../agent/push/link_adaptation.ts";
import { LinkEstimator, type SentInfo, type TwccReport } from "../../agent/push/link_estimator.ts";

const FPS = 30;
const KEYINT = 30;
const MTU = 1200;

/** One picture of a rung as RTP packets (keyframes 3× a P picture, the GOP averaging `kbps`). */
function picture(rung: number, n: number, kbps: number): Uint8Array[] {
  const avg = (kbps * 1000) / 8 / FPS;
  const p = avg * KEYINT / (KEYINT + 2);
  const bytes = Math.round(n % KEYINT === 0 ? 3 * p : p);
  const out: Uint8Array[] = [];
  for (let off = 0, part = 0; off < bytes; off += MTU, part++) {
    const size = Math.min(MTU, bytes - off) + 12;
    const pkt = new Uint8Array(Math.max(size, 16));
    pkt[0] = 0x80;
    pkt[1] = 96 + rung;
    new DataView(pkt.buffer).setUint32(4, n * 3000);
    pkt[12] = 0x7c;
    pkt[13] = part > 0 ? 0x05 : n % KEYINT === 0 ? 0x85 : 0x81;
    out.push(pkt);
  }
  return out;
}

interface LinkPhase {
  untilMs: number;
  kbps: number;
}

/** Runs the ladder through the link; returns per-packet delays and the adaptation. */
function simulate(ladder: number[], phases: LinkPhase[], options: { passThroughKbps?: number; queueBytes?: number; start?: number } = {}) {
  const { passThroughKbps = 2000, queueBytes = 64_000, start } = options;
  let now = 0;
  const adapt = new LinkAdaptation({ rungsKbps: ladder, now: () => now, start });
  const rungs = ladder.length ? ladder : [passThroughKbps];
  const sent = new Map<number, SentInfo>();
  const delays: { sentAtMs: number; delayMs: number }[] = [];
  const rungAt: { atMs: number; kbps: number | null }[] = [];
  let wideSeq = 0;
  let linkFreeAtUs = 0;
  const queue: { doneUs: number; size: number }[] = [];
  const arrivals: { seq: number; atUs: number | undefined }[] = [];
  const pendingReports: { atMs: number; report: TwccReport }[] = [];
  let lastArrivalUs: number | undefined;
  const endMs = phases.at(-1)!.untilMs;
  const rate = () => phases.find((p) => now < p.untilMs)!.kbps;
  for (let pic = 0; now < endMs; now++) {
    // Pictures due by now, every rung.
    while ((pic * 1000) / FPS <= now) {
      for (let r = 0; r < rungs.length; r++) {
        for (const pkt of picture(r, pic, rungs[r]!)) {
          adapt.select(pkt, (p) => {
            const seq = wideSeq++;
            sent.set(seq, { size: p.length, sentAtMs: now });
            const nowUs = now * 1000;
            while (queue.length && queue[0]!.doneUs <= nowUs) queue.shift();
            const backlog = queue.reduce((sum, q) => sum + q.size, 0);
            if (backlog + p.length > queueBytes) return void arrivals.push({ seq, atUs: undefined });
            linkFreeAtUs = Math.max(linkFreeAtUs, nowUs) + (p.length * 8 * 1000) / rate();
            queue.push({ doneUs: linkFreeAtUs, size: p.length });
            const atUs = linkFreeAtUs + 20_000;
            arrivals.push({ seq, atUs });
            delays.push({ sentAtMs: now, delayMs: atUs / 1000 - now });
          });
        }
      }
      pic++;
    }
    // The receiver: feedback once 11 packets have arrived (in arrival order), as werift does.
    const arrived = arrivals.filter((a) => a.atUs === undefined || a.atUs <= now * 1000);
    if (arrived.filter((a) => a.atUs !== undefined).length >= 11) {
      arrived.sort((a, b) => a.seq - b.seq);
      const base = lastArrivalUs ?? arrived.find((a) => a.atUs !== undefined)!.atUs!;
      const results: TwccReport["results"][number][] = [];
      let prev = base;
      for (const a of arrived) {
        if (a.atUs === undefined) results.push({ sequenceNumber: a.seq, received: true }); // no delta: lost
        else {
          results.push({ sequenceNumber: a.seq, received: true, delta: Math.floor((a.atUs - prev) / 250) * 250 });
          prev = a.atUs;
        }
      }
      pendingReports.push({ atMs: now + 20, report: { referenceTime: Math.floor(base / 64_000), results } });
      lastArrivalUs = prev;
      for (const a of arrived) arrivals.splice(arrivals.indexOf(a), 1);
    }
    while (pendingReports.length && pendingReports[0]!.atMs <= now) {
      adapt.report(pendingReports.shift()!.report, (seq) => sent.get(seq));
    }
    if (now % 100 === 0) rungAt.push({ atMs: now, kbps: adapt.status().rungKbps });
  }
  return { adapt, delays, rungAt };
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

describe("LinkEstimator", () => {
  test("delivery rate, loss and queuing delay of a 2 Mbit/s link fed 4 Mbit/s", () => {
    const e = new LinkEstimator();
    const sent = new Map<number, SentInfo>();
    // 1200-byte packets every 2.4 ms (4 Mbit/s), leaving at 2 Mbit/s (4.8 ms apart), every 4th lost.
    const results: TwccReport["results"][number][] = [];
    for (let i = 0; i < 200; i++) {
      sent.set(i, { size: 1200, sentAtMs: i * 2.4 });
      results.push(i % 4 === 3 ? { sequenceNumber: i, received: true } : { sequenceNumber: i, received: true, delta: i === 0 ? 0 : 4800 * (i % 4 === 0 ? 2 : 1) });
    }
    for (let i = 0; i < 200; i += 11) e.report({ referenceTime: 0, results: results.slice(i, i + 11) }, (s) => sent.get(s));
    const s = e.sample();
    expect(s.loss).toBeGreaterThan(0.2);
    expect(s.loss).toBeLessThan(0.3);
    expect(s.deliveryKbps!).toBeGreaterThan(1300); // 3 of 4 packets at 2 Mbit/s spacing
    expect(s.deliveryKbps!).toBeLessThan(1700);
    expect(s.sendKbps!).toBeGreaterThan(3800);
    expect(s.queueDelayMs).toBeGreaterThan(100); // the backlog grows 2.4 ms a packet
  });

  test("nothing until 20 packets were reported", () => {
    const e = new LinkEstimator();
    e.report({ referenceTime: 5, results: [{ sequenceNumber: 0, received: true, delta: 0 }] }, () => ({ size: 1000, sentAtMs: 0 }));
    expect(e.sample().deliveryKbps).toBeUndefined();
  });
});

describe("LinkAdaptation on a simulated uplink", () => {
  test("8 → 1.5 Mbit/s for 20 s and back: down within 2 s, ≤ 1.5 Mbit/s meanwhile, p95 delay ≤ 1 s, top rung again within 10 s", () => {
    const { adapt, delays, rungAt } = simulate([4000, 2000, 1000], [
      { untilMs: 10_000, kbps: 8000 },
      { untilMs: 30_000, kbps: 1500 },
      { untilMs: 45_000, kbps: 8000 },
    ]);
    const st = adapt.status();
    const firstDown = st.switches.find((s) => s.toKbps! < s.fromKbps!)!;
    const downAt = Date.parse(firstDown.at);
    const atTop = (from: number, to: number) => rungAt.filter((r) => r.atMs >= from && r.atMs < to);
    console.log(JSON.stringify({ switches: st.switches.map((s) => `${s.at.slice(17, 23)} ${s.fromKbps}→${s.toKbps} ${s.reason}`), p95: p95(delays.filter((d) => d.sentAtMs >= 10_000 && d.sentAtMs < 30_000).map((d) => d.delayMs)) }));
    expect(atTop(0, 10_000).every((r) => r.kbps === 4000)).toBe(true); // no needless step down on a good link
    expect(downAt).toBeGreaterThanOrEqual(10_000);
    expect(downAt).toBeLessThan(12_000);
    // Sent rung ≤ 1.5 Mbit/s from 1 keyframe after the decision until the link recovers, probes aside.
    const during = atTop(13_000, 30_000);
    expect(during.filter((r) => r.kbps! <= 1500).length / during.length).toBeGreaterThan(0.75);
    expect(p95(delays.filter((d) => d.sentAtMs >= 10_000 && d.sentAtMs < 30_000).map((d) => d.delayMs))).toBeLessThanOrEqual(1000);
    const back = rungAt.find((r) => r.atMs >= 30_000 && r.kbps === 4000)!;
    expect(back.atMs - 30_000).toBeLessThanOrEqual(10_000);
    expect(atTop(back.atMs, 45_000).filter((r) => r.kbps === 4000).length).toBeGreaterThan(atTop(back.atMs, 45_000).length * 0.8);
  });

  test("a pass-through source on a link too small for it sends keyframes only, then every picture again", () => {
    const { adapt } = simulate([], [{ untilMs: 5_000, kbps: 8000 }, { untilMs: 15_000, kbps: 400 }, { untilMs: 30_000, kbps: 8000 }]);
    const st = adapt.status();
    expect(st.switchesDown).toBe(1);
    expect(Date.parse(st.switches[0]!.at)).toBeGreaterThanOrEqual(5_000);
    expect(Date.parse(st.switches[0]!.at)).toBeLessThan(7_000);
    expect(st.droppedForLink).toBeGreaterThan(100);
    expect(Date.parse(st.switches.at(-1)!.at)).toBeGreaterThanOrEqual(15_000); // up once the link is back
    expect(st.mode).toBe("ladder"); // every picture again at the end
    expect(st.rungKbps).toBeNull();
  });

  test("a session that starts where the last one ended (a reconnect) climbs from there on a good link", () => {
    const { adapt, rungAt } = simulate([4000, 2000, 1000], [{ untilMs: 12_000, kbps: 8000 }], { start: 2 });
    expect(rungAt[0]!.kbps).toBe(1000);
    expect(rungAt.find((r) => r.kbps === 4000)!.atMs).toBeLessThanOrEqual(8_000);
    expect(adapt.status().switchesDown).toBe(0);
  });
});
