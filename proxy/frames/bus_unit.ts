/**
 * One frame message of the `video` exchange back into the access unit it was published from
 * (proxy/outputs/bus_frame_output.ts wrote it), and the guard that keeps a remote viewer's
 * stream decodable when frames went missing on the way. Pure: no I/O.
 *
 *   RabbitMQ message (Annex-B body, frame headers) ─► unitOfMessage ─► BusGapGuard ─► viewers
 *
 * The keyframe flag is derived from the NAL types of the body, not taken from the header.
 */
import { CAPTURE_TIME_SOURCE, HEADER, isKeyframe, splitAnnexB } from "../../shared/mod.ts";
import type { AccessUnit } from "../media/frame_assembler.ts";

function integer(value: unknown): number | undefined {
  const n = typeof value === "bigint" ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The access unit a frame message carries; undefined when its body or frame headers are unusable. */
export function unitOfMessage(body: Uint8Array, headers: Readonly<Record<string, unknown>>): AccessUnit | undefined {
  const seq = integer(headers[HEADER.seq]);
  const rtpTimestamp = integer(headers[HEADER.rtpTimestamp]);
  if (seq === undefined || rtpTimestamp === undefined || rtpTimestamp > 0xffffffff || body.length === 0) return undefined;
  const nals = splitAnnexB(body);
  if (nals.length === 0) return undefined;
  const unit: AccessUnit = {
    data: body, nals, keyframe: isKeyframe(nals), rtpTimestamp, seq,
    firstPacketArrivalMs: integer(headers[HEADER.receiveTime]) ?? 0,
  };
  const capture = integer(headers[HEADER.captureTime]);
  if (capture !== undefined && headers[HEADER.captureTimeSource] === CAPTURE_TIME_SOURCE.sender) unit.captureTimeMs = capture;
  const width = integer(headers[HEADER.width]);
  const height = integer(headers[HEADER.height]);
  if (width && height) {
    unit.width = width;
    unit.height = height;
  }
  return unit;
}

/** Why the guard held a frame back. */
export type GapDropReason = "to-keyframe";

/**
 * Follows one dataflow's frame numbers (`seq`, contiguous per dataflow on the owner) as they come
 * off a queue. A jump means frames are missing (the queue's x-max-length dropped its oldest, or
 * the owner never published them): they are counted in `missing`, and the P-frames that follow
 * are held back up to the next keyframe, as after a new subscription (a reconnect) or a new
 * sequence (the owner restarted: `seq` went back), so a viewer never gets a frame whose
 * reference it lacks.
 */
export class BusGapGuard {
  /** Frame numbers skipped over. */
  missing = 0;
  /** Frames held back until a keyframe. */
  toKeyframe = 0;
  private expected: number | undefined;
  private holding = false;

  /** The queue starts again (new subscription): what follows waits for a keyframe. */
  resync(): void {
    this.expected = undefined;
    this.holding = true;
  }

  /** Whether `unit` may go to the viewers. */
  admit(unit: Pick<AccessUnit, "seq" | "keyframe">): boolean {
    if (this.expected !== undefined && unit.seq !== this.expected) {
      if (unit.seq > this.expected) this.missing += unit.seq - this.expected;
      this.holding = true;
    }
    this.expected = unit.seq + 1;
    if (this.holding && !unit.keyframe) {
      this.toKeyframe++;
      return false;
    }
    this.holding = false;
    return true;
  }
}
