// Uplink adaptation for one WHIP session: TWCC feedback → LinkEstimator → a stage → LadderSelect.
//
// Stages, top first: the ladder's rungs (kbit/s, agent/capture/pipeline.ts), then keyframes only
// on the lowest rung. A pass-through source (udp, rtsp, an H.264 camera or file) cannot be
// re-encoded: its stages are "every picture" and "keyframes only".
//
// - Down, fast: the link is overused when over the last 500 ms more than 10 % of the packets
//   were lost or packets queue more than 150 ms. The stage goes straight to the highest rung that
//   fits 80 % of what the link delivered (RTP/SRTP overhead and a margin), else the lowest rung,
//   or keyframes only when the link delivers under 70 % of the lowest rung. The switch itself happens at that rung's next keyframe (≤ --keyint).
// - Up, by probing: what a link delivers cannot show what it could carry, so after `holdMs`
//   without overuse the next rung up is tried. Overused within 2 s of taking effect, the probe
//   failed: back down, and the hold doubles (up to `maxHoldMs`); a probe that holds resets it.
//   With the defaults a recovered link is back on the top rung of a 3-rung ladder within
//   2 × (hold + keyint) + one failed-probe hold: under 10 s at one keyframe a second.
import type { Logger } from "../log.ts";
import { LadderSelect, type SendMark } from "./ladder_select.ts";
import { LinkEstimator, type SentInfo, type TwccReport } from "./link_estimator.ts";

/** One stage change, as the status file lists it. */
export interface SwitchRecord {
  at: string;
  /** kbit/s of the rung left and taken (null: a pass-through source's own bitrate). */
  fromKbps: number | null;
  toKbps: number | null;
  reason: string;
}

/** The `adapt` object of the agent's status. */
export interface AdaptStatus {
  mode: "ladder" | "keyframes-only" | "off";
  rung: number;
  rungKbps: number | null;
  estimateKbps: number | null;
  switchesDown: number;
  switchesUp: number;
  /** Pictures not sent because the link took keyframes only. */
  droppedForLink: number;
  switches: SwitchRecord[];
}

/** Steps down and up, and the last ones, across the sessions that share this object. */
export interface AdaptTotals {
  down: number;
  up: number;
  history: SwitchRecord[];
}

/** Options of {@link LinkAdaptation}; each field documents its default. */
export interface LinkAdaptationOptions {
  /** kbit/s per rung, top first; empty for a pass-through source. */
  rungsKbps: readonly number[];
  /** The stage to start on (0: the top rung; a past session's, so a new one on the same link does not start too high). Default 0. */
  start?: number;
  /** Switch counts and history to continue (shared by the sessions of one agent, so a reconnect keeps them). Default: new. */
  totals?: AdaptTotals;
  /** Quiet time before probing a rung up. Default 2000 ms. */
  holdMs?: number;
  /** The most a failed probe doubles the hold to. Default 4000 ms. */
  maxHoldMs?: number;
  /** Default Date.now. */
  now?: () => number;
  log?: Logger;
  /** Called after every stage change. */
  onChange?: () => void;
}

const LOSS_LIMIT = 0.1;
const QUEUE_LIMIT_MS = 150;
const FIT = 0.8;
/** Keyframes only below this share of the lowest rung. */
const FLOOR_FIT = 0.7;
const PROBE_MS = 2000;
const HISTORY = 32;
/** Reported packets in the window before any decision. */
const MIN_PACKETS = 5;

/** Adapts one session to its link. */
export class LinkAdaptation {
  readonly #select: LadderSelect;
  readonly #estimator = new LinkEstimator();
  readonly #rungs: readonly (number | null)[];
  readonly #o: LinkAdaptationOptions;
  readonly #now: () => number;
  #stage = 0;
  #hold: number;
  #changedAt: number;
  #effectiveAt: number | undefined;
  #lastOveruseAt = -Infinity;
  #probe: { from: number; at?: number } | undefined;
  #estimate: number | undefined;
  readonly #totals: AdaptTotals;
  #loggedAt = -Infinity;

  constructor(options: LinkAdaptationOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#totals = options.totals ?? { down: 0, up: 0, history: [] };
    this.#rungs = options.rungsKbps.length ? options.rungsKbps : [null];
    this.#stage = Math.max(0, Math.min(options.start ?? 0, this.#rungs.length));
    this.#select = new LadderSelect(this.#rungs.length, Math.min(this.#stage, this.#rungs.length - 1));
    this.#select.keyframesOnly = this.#stage === this.#rungs.length;
    this.#hold = options.holdMs ?? 2000;
    this.#changedAt = this.#now();
    this.#effectiveAt = this.#changedAt;
  }

  /** Keyframes-only stage: one past the last rung. */
  get #floor(): number {
    return this.#rungs.length;
  }

  /** Takes one capture packet; `send` gets what this session sends, in order. */
  select(packet: Uint8Array, send: (packet: Uint8Array, mark: SendMark) => void): void {
    this.#select.accept(packet, send);
  }

  /** Takes one TWCC feedback of this session. */
  report(report: TwccReport, sent: (sequenceNumber: number) => SentInfo | undefined): void {
    this.#estimator.report(report, sent);
    const now = this.#now();
    if (this.#effectiveAt === undefined && this.#settled()) this.#effectiveAt = now;
    const s = this.#estimator.sample();
    if (now - this.#loggedAt >= 250) {
      this.#loggedAt = now;
      this.#o.log?.debug("uplink sample", { ...s, stage: this.#stage, rung: this.#select.current, hold: this.#hold, probe: this.#probe !== undefined });
    }
    if (s.packets < MIN_PACKETS) return;
    if (s.deliveryKbps !== undefined) this.#estimate = s.deliveryKbps;
    const overused = s.loss > LOSS_LIMIT || s.queueDelayMs > QUEUE_LIMIT_MS;
    const probe = this.#probe;
    if (overused) {
      this.#lastOveruseAt = now;
      if (probe && (probe.at === undefined || now - probe.at < PROBE_MS)) {
        this.#hold = Math.min(this.#hold * 2, this.#o.maxHoldMs ?? 4000);
        this.#probe = undefined;
        return this.#go(probe.from, `probe failed (loss ${pct(s.loss)}, queue ${Math.round(s.queueDelayMs)} ms)`);
      }
      if (s.deliveryKbps === undefined) return;
      const fit = this.#fit(s.deliveryKbps, s.sendKbps);
      if (fit > this.#stage) this.#go(fit, `link delivers ${Math.round(s.deliveryKbps)} kbit/s (loss ${pct(s.loss)}, queue ${Math.round(s.queueDelayMs)} ms)`);
      return;
    }
    if (probe) {
      if (probe.at === undefined && this.#effectiveAt !== undefined) probe.at = this.#effectiveAt;
      if (probe.at !== undefined && now - probe.at >= PROBE_MS) {
        this.#probe = undefined;
        this.#hold = this.#o.holdMs ?? 2000;
      }
      return;
    }
    const quiet = this.#effectiveAt !== undefined && now - this.#effectiveAt >= this.#hold && now - this.#lastOveruseAt >= this.#hold;
    if (this.#stage > 0 && quiet) {
      this.#probe = { from: this.#stage };
      this.#go(this.#stage - 1, `probe after ${this.#hold} ms without overuse`);
    }
  }

  /** The stage the link takes: the first rung at or below 80 % of the delivery rate. */
  #fit(deliveryKbps: number, sendKbps: number | undefined): number {
    const budget = deliveryKbps * FIT;
    const rungs = this.#rungs;
    if (rungs[0] === null) return sendKbps !== undefined && deliveryKbps < sendKbps * FIT ? this.#floor : 0;
    for (let i = 0; i < rungs.length; i++) if (rungs[i]! <= budget) return i;
    // Delivery under congestion is a low estimate (retransmissions take part of the link):
    // keyframes only when the link is clearly below the lowest rung.
    return deliveryKbps < rungs.at(-1)! * FLOOR_FIT ? this.#floor : rungs.length - 1;
  }

  #settled(): boolean {
    return this.#select.current === this.#select.target;
  }

  #go(stage: number, reason: string): void {
    const from = this.#stage;
    if (stage === from) return;
    this.#stage = stage;
    this.#select.target = Math.min(stage, this.#rungs.length - 1);
    this.#select.keyframesOnly = stage === this.#floor;
    this.#changedAt = this.#now();
    this.#effectiveAt = undefined;
    const totals = this.#totals;
    if (stage > from) totals.down++;
    else totals.up++;
    const record = { at: new Date(this.#changedAt).toISOString(), fromKbps: this.#kbps(from), toKbps: this.#kbps(stage), reason };
    totals.history.push(record);
    if (totals.history.length > HISTORY) totals.history.splice(0, totals.history.length - HISTORY);
    this.#o.log?.info(stage > from ? "uplink: stepping down" : "uplink: stepping up", { ...record, keyframesOnly: stage === this.#floor });
    this.#o.onChange?.();
  }

  #kbps(stage: number): number | null {
    return this.#rungs[Math.min(stage, this.#rungs.length - 1)]!;
  }

  /** The stage now: 0..rungs − 1 a rung, rungs: keyframes only. */
  get stage(): number {
    return this.#stage;
  }

  /** For the status file. */
  status(): AdaptStatus {
    const c = this.#select.counters;
    return {
      mode: this.#stage === this.#floor ? "keyframes-only" : "ladder",
      rung: this.#select.current,
      rungKbps: this.#rungs[this.#select.current]!,
      estimateKbps: this.#estimate === undefined ? null : Math.round(this.#estimate),
      switchesDown: this.#totals.down,
      switchesUp: this.#totals.up,
      droppedForLink: c.picturesDropped,
      switches: [...this.#totals.history],
    };
  }
}

function pct(x: number): string {
  return `${Math.round(x * 100)} %`;
}
