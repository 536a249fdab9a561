// Splicing a restarted capture into one outgoing RTP stream. A restarted gst child starts a
// new RTP stream (new SSRC, sequence number and timestamp base, RFC 3550 §5.1), which the
// publisher continues under its negotiated SSRC. A pass-through source (udp, rtsp: no
// re-encode) resumes wherever its sender is in the GOP, and the P-frames before the next
// keyframe refer to pictures the receiver never had; gst-launch cannot hear a PLI, so asking
// for a keyframe is no use. So after a restart every packet is held back (dropped, counted)
// until the first packet of a keyframe: SPS or IDR as a single NAL unit, in a STAP-A, or in
// an FU-A start (see `gopStartType()`).
//
//   old SSRC  … P P P | new SSRC  P P P  SPS PPS IDR P P …
//                                 ╰held╯ ╰─ "splice", then "send" ─╯
//
// The splice advances the timestamp by one picture interval: the old source's, as seen in
// its timestamps, else 90000 / fps.
import { gopStartType, rtpPayloadOffset } from "./gop_cache.ts";

/** What to do with one packet: send it; splice (continue the stream) and send it; drop it. */
export type SpliceAction = "send" | "splice" | "hold";

/** Options of {@link SourceSplice}; each field documents its default. */
export interface SourceSpliceOptions {
  /** Frame rate of the source, for the splice step when none was seen. Default 30. */
  fps?: number;
}

/** Counters (cumulative). */
export interface SourceSpliceCounters {
  /** Times a new source SSRC appeared after the first. */
  sourceRestarts: number;
  /** Packets dropped after a restart while waiting for a keyframe. */
  droppedAwaitingKeyframe: number;
}

const RTP_CLOCK = 90_000; // H.264 RTP clock rate, RFC 6184 §8.2.1

function ssrcOf(packet: Uint8Array): number {
  return ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
}

function timestampOf(packet: Uint8Array): number {
  return ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
}

/** True when `packet` (RTP/H.264) begins a keyframe: SPS or IDR first, per `gopStartType()`. */
export function startsKeyframe(packet: Uint8Array): boolean {
  const offset = rtpPayloadOffset(packet);
  return offset >= 0 && gopStartType(packet.subarray(offset)) !== 0;
}

/** Decides, packet by packet, how a capture's RTP goes into the outgoing stream. */
export class SourceSplice {
  readonly counters: SourceSpliceCounters = { sourceRestarts: 0, droppedAwaitingKeyframe: 0 };
  #ssrc: number | undefined;
  #awaitingKeyframe = false;
  #lastTimestamp: number | undefined;
  #seenStep: number | undefined;
  readonly #defaultStep: number;

  constructor(options: SourceSpliceOptions = {}) {
    const fps = options.fps ?? 30;
    if (!(fps > 0)) throw new RangeError(`SourceSplice fps "${fps}" must be above 0`);
    this.#defaultStep = Math.round(RTP_CLOCK / fps);
  }

  /** 90 kHz ticks the splice puts between the old source's last picture and the new one's first. */
  get timestampStep(): number {
    return this.#seenStep ?? this.#defaultStep;
  }

  /**
   * The action for `packet` (at least an RTP header long). `continued`: the caller chose to
   * continue the stream with this packet (a keyframe after a rung switch or dropped pictures,
   * agent/push/ladder_select.ts): "splice", and a new SSRC is not a restart.
   */
  accept(packet: Uint8Array, continued = false): SpliceAction {
    const ssrc = ssrcOf(packet);
    if (continued) {
      this.#ssrc = ssrc;
      this.#awaitingKeyframe = false;
      this.#lastTimestamp = timestampOf(packet);
      return "splice";
    }
    if (ssrc !== this.#ssrc) {
      if (this.#ssrc !== undefined) {
        this.counters.sourceRestarts++;
        this.#awaitingKeyframe = true;
      }
      this.#ssrc = ssrc;
    }
    if (this.#awaitingKeyframe) {
      if (!startsKeyframe(packet)) {
        this.counters.droppedAwaitingKeyframe++;
        return "hold";
      }
      this.#awaitingKeyframe = false;
      this.#lastTimestamp = timestampOf(packet);
      return "splice";
    }
    this.#observe(timestampOf(packet));
    return "send";
  }

  /** Remembers the picture interval: the last forward step under one second. */
  #observe(timestamp: number): void {
    const last = this.#lastTimestamp;
    this.#lastTimestamp = timestamp;
    if (last === undefined || timestamp === last) return;
    const step = (timestamp - last) >>> 0;
    if (step < RTP_CLOCK) this.#seenStep = step;
  }
}
