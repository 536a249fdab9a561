/**
 * A frame's `captureTime` and where it came from (`captureTimeSource`, shared/names.ts), and
 * the glass-to-bus latencies of a dataflow's last frames for the dashboard.
 *
 * The sender's capture time (abs-capture-time, proxy/media/capture_clock.ts) is taken as it is:
 * the two clocks are the operator's to keep in step (NTP, GPS). One that lies more than
 * `CAPTURE_FUTURE_TOLERANCE_MS` after the frame's arrival cannot be right (a picture arrives
 * after it is taken): the sender's clock runs ahead. Such a frame is counted and its
 * `captureTime` clamped to `receiveTime`, the latest the picture can have been taken, marked
 * `clamped`; a frame whose sender gave no capture time gets `receiveTime`, marked `receive`.
 */
import { CAPTURE_TIME_SOURCE, type CaptureTimeSource } from "../../shared/mod.ts";
import type { AccessUnit } from "../media/frame_assembler.ts";

/**
 * How far after its arrival a sender's capture time may lie and still be taken: NTP keeps
 * clocks on one network within a few ms, a vehicle's GPS-disciplined clock within 1 ms, so
 * 100 ms ahead is a clock that is wrong, not jitter.
 */
export const CAPTURE_FUTURE_TOLERANCE_MS = 100;

/** `captureTime` of `unit` and its source; see the file comment. */
export function frameCaptureTime(unit: AccessUnit, toleranceMs = CAPTURE_FUTURE_TOLERANCE_MS): { ms: number; source: CaptureTimeSource } {
  const sender = unit.captureTimeMs;
  if (sender === undefined) return { ms: unit.firstPacketArrivalMs, source: CAPTURE_TIME_SOURCE.receive };
  if (sender > unit.firstPacketArrivalMs + toleranceMs) return { ms: unit.firstPacketArrivalMs, source: CAPTURE_TIME_SOURCE.clamped };
  return { ms: Math.round(sender), source: CAPTURE_TIME_SOURCE.sender }; // whole ms, as receiveTime
}

/** Latencies of the last `size` frames (ring), for p50/p95 on the dashboard. */
export class LatencyWindow {
  readonly #ring: Float64Array;
  #next = 0;
  #count = 0;

  constructor(size = 300) {
    this.#ring = new Float64Array(size);
  }

  /** Records one latency in ms. */
  add(ms: number): void {
    this.#ring[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#count < this.#ring.length) this.#count++;
  }

  /** Frames held (at most the window's size). */
  get count(): number {
    return this.#count;
  }

  /** The `q` quantile (0…1, nearest rank) in ms of what is held, or undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    const sorted = this.#ring.slice(0, this.#count).sort();
    return sorted[Math.min(this.#count - 1, Math.max(0, Math.ceil(q * this.#count) - 1))];
  }
}
