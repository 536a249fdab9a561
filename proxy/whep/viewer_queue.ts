/**
 * The bounded queue of one WHEP viewer: access units wait here between the publisher's
 * packet path (which must never wait for a viewer) and the viewer's sender. When it is full
 * the viewer drops its own frames, counted by reason, and skips to the next keyframe so it
 * never decodes a frame whose reference it did not get. Pure: no I/O, no clock.
 */
import type { AccessUnit } from "../media/frame_assembler.ts";

/** Why a viewer did not get a frame. */
export type ViewerDropReason =
  | "before-keyframe" // the viewer joined mid-GOP and waits for a keyframe
  | "queue-full" // the viewer's queue was full (slow viewer)
  | "after-drop"; // a P-frame after a dropped frame, skipped until the next keyframe

/** Every `ViewerDropReason`, so metrics list all of them from the start. */
export const VIEWER_DROP_REASONS: readonly ViewerDropReason[] = ["before-keyframe", "queue-full", "after-drop"];

/** One queued frame and the RTP timestamp it goes out with on this viewer's stream. */
export interface QueuedUnit {
  unit: AccessUnit;
  timestamp: number;
}

/** Bounds of a queue; each field documents its default. */
export interface ViewerQueueOptions {
  /** Frames held at most. Default 90 (3 s at 30 fps, room for a whole cached GOP). */
  maxUnits?: number;
  /** Bytes held at most. Default 4 MiB. */
  maxBytes?: number;
}

/** What {@link ViewerQueue.offer} did with a frame. */
export interface OfferResult {
  queued: boolean;
  /** The viewer now waits for a keyframe: ask the publisher for one. */
  wantKeyframe: boolean;
}

/** A FIFO of access units with a frame and a byte bound and per-reason drop counters. */
export class ViewerQueue {
  readonly dropped: Record<ViewerDropReason, number> = { "before-keyframe": 0, "queue-full": 0, "after-drop": 0 };
  private readonly items: QueuedUnit[] = [];
  private head = 0;
  private byteCount = 0;
  private started = false;
  private awaitingKeyframe = false;
  private readonly maxUnits: number;
  private readonly maxBytes: number;

  constructor(options: ViewerQueueOptions = {}) {
    this.maxUnits = options.maxUnits ?? 90;
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  }

  /** Frames waiting. */
  get depth(): number {
    return this.items.length - this.head;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.byteCount;
  }

  /** Frames dropped, all reasons. */
  get droppedTotal(): number {
    return this.dropped["before-keyframe"] + this.dropped["queue-full"] + this.dropped["after-drop"];
  }

  /** Queues `unit` to go out with RTP timestamp `timestamp`, or drops it (never blocks). */
  offer(unit: AccessUnit, timestamp = unit.rtpTimestamp): OfferResult {
    if (!this.started) {
      if (!unit.keyframe) return this.waitForKeyframe("before-keyframe");
      this.started = true;
    }
    if (this.awaitingKeyframe && !unit.keyframe) return this.drop("after-drop", false);
    const size = unit.data.length;
    if (this.depth + 1 > this.maxUnits || this.byteCount + size > this.maxBytes) {
      if (!unit.keyframe) return this.waitForKeyframe("queue-full");
      // A keyframe makes everything queued before it unnecessary: start over from it.
      this.dropped["queue-full"] += this.depth;
      this.clear();
      if (size > this.maxBytes) return this.waitForKeyframe("queue-full");
    }
    this.awaitingKeyframe = false;
    this.items.push({ unit, timestamp });
    this.byteCount += size;
    return { queued: true, wantKeyframe: false };
  }

  /** The oldest waiting frame, removed from the queue. */
  take(): QueuedUnit | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as unknown as QueuedUnit;
    this.head++;
    this.byteCount -= item.unit.data.length;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empties the queue (not counted as drops). */
  clear(): void {
    this.items.length = 0;
    this.head = 0;
    this.byteCount = 0;
  }

  /** Drops a frame and waits for a keyframe; asks for one only when the wait begins. */
  private waitForKeyframe(reason: ViewerDropReason): OfferResult {
    const first = !this.awaitingKeyframe;
    this.awaitingKeyframe = true;
    return this.drop(reason, first);
  }

  private drop(reason: ViewerDropReason, wantKeyframe: boolean): OfferResult {
    this.dropped[reason]++;
    return { queued: false, wantKeyframe };
  }
}
