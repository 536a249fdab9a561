/**
 * Status for operators and watchdogs: one JSON log line per state change and one every 10 s
 * with fps, bitrate, packets and restarts (and on every uplink adaptation step); the same object written atomically (write a
 * temporary file, then rename) to `--status-file`.
 */
import { renameSync, writeFileSync } from "node:fs";
import type { CaptureStats } from "./capture_stats.ts";
import type { ControlCounters } from "./control/control_verifier.ts";
import type { FlowState } from "./flow.ts";
import type { Logger } from "./log.ts";
import type { AdaptStatus } from "./push/link_adaptation.ts";
import { residentBytes } from "./runtime.ts";

/** The status object. */
export interface AgentStatus {
  state: FlowState;
  dataflowId: number | null;
  since: string;
  updated: string;
  fps: number;
  bitrateKbps: number;
  /** RTP packets read from the gst child. */
  packets: number;
  /** RTP packets handed to WebRTC. */
  packetsSent: number;
  frames: number;
  restarts: number;
  plis: number;
  /** Pictures stamped with their capture time, and left unstamped (push/capture_stamp.ts). */
  captureStamped: number;
  captureUnstampable: number;
  /** Border wobbles that did not hand over, and packets a handover's new push held back until a keyframe. */
  tileChangesHeld: number;
  handoverAwaitingKeyframe: number;
  /** Control messages obeyed (signed by the proxy, newer than the last). */
  controlAccepted: number;
  /** Control messages ignored: unsigned, forged, replayed, malformed or for another id. */
  controlIgnored: number;
  /** The same by reason: unsigned, forged, replayed, … (agent/control/control_verifier.ts). */
  controlIgnoredByReason: Record<string, number>;
  rssBytes: number;
  /** Uplink adaptation (agent/push/link_adaptation.ts): the newest WHIP session's rung and estimate, the switch counts and history of all of them; written on every change. */
  adapt: AdaptStatus;
}

const OFF: AdaptStatus = { mode: "off", rung: 0, rungKbps: null, estimateKbps: null, switchesDown: 0, switchesUp: 0, droppedForLink: 0, switches: [] };

/** Options of {@link StatusReporter}. */
export interface StatusReporterOptions {
  log: Logger;
  stats: CaptureStats;
  /** Control message counts [none: both 0]. */
  control?: ControlCounters;
  statusFile?: string;
  /** Default 10000 ms. */
  intervalMs?: number;
}

/** Writes the status; `start()` begins the periodic line. */
export class StatusReporter {
  #o: StatusReporterOptions;
  #state: FlowState = "locating";
  #id: number | null = null;
  #since = new Date();
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = { at: performance.now(), frames: 0, bytes: 0 };
  #rates = { fps: 0, bitrateKbps: 0 };

  constructor(options: StatusReporterOptions) {
    this.#o = options;
    options.stats.onAdaptChange = () => this.#write();
  }

  /** Starts the periodic status line. */
  start(): void {
    this.#timer = setInterval(() => this.#tick(), this.#o.intervalMs ?? 10_000);
  }

  /** Stops the periodic line and writes the final status. */
  stop(): void {
    clearInterval(this.#timer);
    this.#write();
  }

  /** Records a flow transition. */
  onState(state: FlowState, id: number | undefined): void {
    this.#state = state;
    this.#id = id ?? this.#id;
    this.#since = new Date();
    this.#write();
  }

  #tick(): void {
    const now = performance.now();
    const s = this.#o.stats;
    const seconds = Math.max(0.001, (now - this.#last.at) / 1000);
    this.#rates = {
      fps: Math.round(((s.frames - this.#last.frames) / seconds) * 10) / 10,
      bitrateKbps: Math.round(((s.bytes - this.#last.bytes) * 8) / seconds / 1000),
    };
    this.#last = { at: now, frames: s.frames, bytes: s.bytes };
    this.#o.log.info("status", { ...this.snapshot() });
    this.#write();
  }

  /** The current status. */
  snapshot(): AgentStatus {
    const s = this.#o.stats;
    return {
      state: this.#state,
      dataflowId: this.#id,
      since: this.#since.toISOString(),
      updated: new Date().toISOString(),
      ...this.#rates,
      packets: s.packets,
      packetsSent: s.sent,
      frames: s.frames,
      restarts: s.restarts,
      plis: s.plis,
      captureStamped: s.captureStamped,
      captureUnstampable: s.captureUnstampable,
      tileChangesHeld: s.tileChangesHeld,
      handoverAwaitingKeyframe: s.handoverAwaitingKeyframe,
      controlAccepted: this.#o.control?.accepted ?? 0,
      controlIgnored: this.#o.control?.rejectedTotal ?? 0,
      controlIgnoredByReason: { ...this.#o.control?.rejected },
      rssBytes: residentBytes(),
      adapt: s.adapt?.() ?? OFF,
    };
  }

  #write(): void {
    const path = this.#o.statusFile;
    if (!path) return;
    const tmp = `${path}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(this.snapshot())}\n`);
      renameSync(tmp, path);
    } catch (error) {
      this.#o.log.warn("status file not written", { path, error });
    }
  }
}
