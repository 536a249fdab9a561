/**
 * Per-second statistics of received frames: a pure accumulator fed one frame at a time,
 * so its arithmetic is tested without RabbitMQ or a clock.
 */

/** What one frame message tells the statistics. */
export interface FrameSample {
  dataflowId: number;
  seq: number;
  bytes: number;
  keyframe: boolean;
  /** Milliseconds from the proxy receiving the frame to this consumer getting it. */
  latencyMs: number;
}

/** One period's figures, summed over every watched dataflow. */
export interface StatsLine {
  frames: number;
  keyframes: number;
  kbps: number;
  /** Frames missing between consecutive `seq` values of the same dataflow. */
  gaps: number;
  latencyMsP50: number;
  latencyMsMax: number;
  dataflows: number;
  totalFrames: number;
  totalGaps: number;
}

/** Accumulates frames and gives a {@link StatsLine} per period. */
export class FrameStats {
  #lastSeq = new Map<number, number>();
  #frames = 0;
  #keyframes = 0;
  #bytes = 0;
  #gaps = 0;
  #latencies: number[] = [];
  totalFrames = 0;
  totalGaps = 0;

  /** Adds one frame; returns how many frames were missing right before it. */
  add(sample: FrameSample): number {
    const last = this.#lastSeq.get(sample.dataflowId);
    // A seq lower than the last one means the proxy restarted the stream's numbering.
    const missing = last !== undefined && sample.seq > last + 1 ? sample.seq - last - 1 : 0;
    this.#lastSeq.set(sample.dataflowId, sample.seq);
    this.#frames++;
    this.totalFrames++;
    if (sample.keyframe) this.#keyframes++;
    this.#bytes += sample.bytes;
    this.#gaps += missing;
    this.totalGaps += missing;
    if (Number.isFinite(sample.latencyMs)) this.#latencies.push(sample.latencyMs);
    return missing;
  }

  /** The figures since the last call, over `periodMs`; resets the period. */
  take(periodMs: number): StatsLine {
    const sorted = this.#latencies.sort((a, b) => a - b);
    const line: StatsLine = {
      frames: this.#frames,
      keyframes: this.#keyframes,
      kbps: Math.round((this.#bytes * 8) / periodMs),
      gaps: this.#gaps,
      latencyMsP50: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : 0,
      latencyMsMax: sorted.length ? sorted[sorted.length - 1]! : 0,
      dataflows: this.#lastSeq.size,
      totalFrames: this.totalFrames,
      totalGaps: this.totalGaps,
    };
    this.#frames = this.#keyframes = this.#bytes = this.#gaps = 0;
    this.#latencies = [];
    return line;
  }
}

/** The human form of a stats line, for stderr. */
export function formatStats(line: StatsLine): string {
  return `${line.frames} fps (${line.keyframes} key) · ${line.kbps} kbit/s · gaps ${line.gaps} · ` +
    `latency p50 ${line.latencyMsP50.toFixed(1)} ms max ${line.latencyMsMax.toFixed(1)} ms · ` +
    `${line.dataflows} dataflow(s) · total ${line.totalFrames} frames, ${line.totalGaps} missing`;
}
