// The figures of the cellular test (tests/e2e/cellular_test.ts), computed from what its peers
// recorded: frames on the bus (cellular_peer.ts proxy), the link's rate changes (cellular_peer.ts
// shaper) and the agent's status file (`adapt`). Pure: times in ms since the epoch, one clock
// (all namespaces share the kernel's).

/** One frame message as the bus consumer saw it. */
export interface BusFrame {
  /** Date.now() at the consumer. */
  rx: number;
  /** The `captureTime` header (the sender's clock). */
  capture: number;
  /** The `receiveTime` header (the proxy's first packet). */
  proxyRx: number;
  bytes: number;
  key: boolean;
  /** The `captureTimeSource` header. */
  source: string;
}

/** The agent's `adapt` status and one of its switches (agent/push/link_adaptation.ts). */
import type { AdaptStatus } from "../../agent/push/link_adaptation.ts";
export type { AdaptStatus, SwitchRecord as LadderSwitch } from "../../agent/push/link_adaptation.ts";

/** p50, p95 and max of some values (ms), null when there are none. */
export interface Spread {
  n: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Nearest-rank percentile `p` (0–100) of `values`; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Glass-to-bus (consumer receive − capture) of the frames captured in [from, to). */
export function glassToBus(frames: readonly BusFrame[], from: number, to: number): Spread {
  const delays = frames.filter((f) => f.capture >= from && f.capture < to).map((f) => f.rx - f.capture);
  return { n: delays.length, p50: percentile(delays, 50), p95: percentile(delays, 95), max: percentile(delays, 100) };
}

/** The longest time in [from, to] without a frame arriving on the bus, edges included. */
export function longestGapMs(frames: readonly BusFrame[], from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const f of frames) {
    if (f.rx < from) continue;
    if (f.rx > to) break;
    gap = Math.max(gap, f.rx - last);
    last = f.rx;
  }
  return Math.max(gap, to - last);
}

/** kbit/s of frame bodies that arrived on the bus in [from, to). */
export function busKbps(frames: readonly BusFrame[], from: number, to: number): number {
  const bytes = frames.filter((f) => f.rx >= from && f.rx < to).reduce((sum, f) => sum + f.bytes, 0);
  return Math.round((bytes * 8) / Math.max(1, to - from));
}

/** How the agent's ladder followed the link, from its switch history. */
export interface AdaptFigures {
  /** First down switch after the drop began, ms after it; null when none. */
  firstDownAfterMs: number | null;
  /** Highest rung (kbit/s) in effect from 2 s into the drop to its end (a probe up counts). */
  maxKbpsInDrop: number | null;
  /** Share of that time on a rung of at most `lowKbps` (probes are the rest). */
  lowShareInDrop: number | null;
  /** First switch back to `topKbps` after the link recovered, ms after it; null when none. */
  backToTopAfterMs: number | null;
  /** The rung in effect at the end. */
  finalKbps: number | null;
}

/** Reads {@link AdaptFigures} off `adapt.switches` (the agent starts on `topKbps`). */
export function adaptFigures(adapt: AdaptStatus | undefined, link: { dropAt: number; recoverAt: number; topKbps: number; lowKbps?: number }): AdaptFigures {
  if (!adapt) return { firstDownAfterMs: null, maxKbpsInDrop: null, lowShareInDrop: null, backToTopAfterMs: null, finalKbps: null };
  // kbit/s are null only for a pass-through source's own bitrate, which a ladder run has not.
  const switches = adapt.switches.map((s) => ({ t: Date.parse(s.at), fromKbps: s.fromKbps ?? 0, toKbps: s.toKbps ?? 0 })).sort((a, b) => a.t - b.t);
  const rungAt = (t: number) => switches.filter((s) => s.t <= t).at(-1)?.toKbps ?? link.topKbps;
  const settled = link.dropAt + 2000;
  const inDrop = switches.filter((s) => s.t > settled && s.t <= link.recoverAt).map((s) => s.toKbps);
  const down = switches.find((s) => s.t >= link.dropAt && s.toKbps < s.fromKbps);
  const up = switches.find((s) => s.t >= link.recoverAt && s.toKbps === link.topKbps);
  // Time on each rung from `settled` to the recovery, switch by switch.
  const edges = [settled, ...switches.filter((s) => s.t > settled && s.t < link.recoverAt).map((s) => s.t), link.recoverAt];
  let low = 0;
  for (let i = 0; i + 1 < edges.length; i++) if (rungAt(edges[i]!)! <= (link.lowKbps ?? Infinity)) low += edges[i + 1]! - edges[i]!;
  return {
    firstDownAfterMs: down ? down.t - link.dropAt : null,
    maxKbpsInDrop: Math.max(rungAt(settled), ...inDrop),
    lowShareInDrop: +(low / (link.recoverAt - settled)).toFixed(3),
    backToTopAfterMs: up ? up.t - link.recoverAt : null,
    finalKbps: adapt.rungKbps,
  };
}
