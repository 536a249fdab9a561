/** Counters of what the gst child produced, read by the status reporter. */
import type { AdaptStatus } from "./push/link_adaptation.ts";

/** Cumulative capture counters. */
export class CaptureStats {
  packets = 0;
  bytes = 0;
  /** Access units (RTP packets with the marker bit, RFC 6184 §5.1). */
  frames = 0;
  /** Packets read while no WHIP session existed to take them. */
  unsent = 0;
  restarts = 0;
  plis = 0;
  /** Pictures stamped with their capture time (abs-capture-time, push/capture_stamp.ts). */
  captureStamped = 0;
  /** Pictures left unstamped: their first packet already had an extension or CSRCs. */
  captureUnstampable = 0;
  /** New tiles left before --handover-hold elapsed: border wobbles that did not hand over. */
  tileChangesHeld = 0;
  /** Packets a handover's new push held back before the capture's next keyframe. */
  handoverAwaitingKeyframe = 0;
  /** Packets sent by WHIP sessions that have ended. */
  sentByEnded = 0;
  /** The newest WHIP session's uplink adaptation (set by whoever owns it). */
  adapt: (() => AdaptStatus) | undefined;
  /** Called when that adaptation changes stage (the status reporter writes the file). */
  onAdaptChange: (() => void) | undefined;
  /** Packets sent by the current WHIP session (set by whoever owns it). */
  sentByCurrent: () => number = () => 0;

  /** Packets handed to WebRTC (replayed GOP packets included). */
  get sent(): number {
    return this.sentByEnded + this.sentByCurrent();
  }

  /** Counts one RTP packet. */
  count(packet: Uint8Array): void {
    this.packets++;
    this.bytes += packet.length;
    if (packet.length > 1 && (packet[1]! & 0x80) !== 0) this.frames++;
  }
}
