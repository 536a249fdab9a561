/**
 * The WHEP side of one dataflow: every access unit of the stream goes to each viewer's own
 * queue (a slow viewer drops its own frames), and the units since the last keyframe are kept
 * (bounded) so that a viewer who joins mid-GOP starts at once with a decodable picture.
 *
 * A joining viewer gets that cached GOP as one burst, with its RTP timestamps squeezed to one
 * tick apart just before the newest one: the player decodes the burst at once and stays on
 * live time instead of playing a second of the past late. When no GOP is cached (none yet, or
 * longer than the bound, as with a browser publisher that sends keyframes only on PLI), the
 * hub asks the publisher for a keyframe instead. Pure: no I/O, no timers.
 */
import type { AccessUnit } from "../media/frame_assembler.ts";
import type { OfferResult } from "./viewer_queue.ts";

/** What the hub needs from a viewer. */
export interface HubViewer {
  push(unit: AccessUnit, timestamp?: number): OfferResult;
}

/** Bounds of the GOP cache; each field documents its default. */
export interface GopCacheOptions {
  /** Frames kept at most; a longer GOP is not cached. Default 60. */
  maxUnits?: number;
  /** Bytes kept at most. Default 3 MiB. */
  maxBytes?: number;
}

/** Fans one dataflow's access units out to its viewers. */
export class ViewerHub<V extends HubViewer = HubViewer> {
  readonly viewers = new Set<V>();
  /** Units handed to the hub. */
  unitsIn = 0;
  /** Viewers that joined with the cached GOP, and those that had to wait for a keyframe. */
  joinsFromCache = 0;
  joinsWaiting = 0;
  private gop: AccessUnit[] = [];
  private gopBytes = 0;
  private gopValid = false;
  private readonly maxUnits: number;
  private readonly maxBytes: number;

  constructor(private readonly requestKeyframe: () => void, options: GopCacheOptions = {}) {
    this.maxUnits = options.maxUnits ?? 60;
    this.maxBytes = options.maxBytes ?? 3 * 1024 * 1024;
  }

  /** Frames in the GOP cache now (0 when none is usable). */
  get cachedUnits(): number {
    return this.gopValid ? this.gop.length : 0;
  }

  /** One unit of the stream, in order; called from the publisher's packet path. */
  onUnit(unit: AccessUnit): void {
    this.unitsIn++;
    this.cache(unit);
    for (const viewer of this.viewers) viewer.push(unit);
  }

  /** Adds `viewer`: it gets the cached GOP now, or waits for the keyframe the hub requests. */
  add(viewer: V): void {
    this.viewers.add(viewer);
    const gop = this.gopValid ? this.gop : [];
    if (gop.length === 0) {
      this.joinsWaiting++;
      this.requestKeyframe();
      return;
    }
    this.joinsFromCache++;
    const newest = gop[gop.length - 1]!.rtpTimestamp;
    gop.forEach((unit, i) => viewer.push(unit, (newest - (gop.length - 1 - i)) >>> 0));
  }

  /** Removes `viewer`; true when it was here. */
  remove(viewer: V): boolean {
    return this.viewers.delete(viewer);
  }

  /** The publisher's stream restarted or ended: a new source starts with a new GOP. */
  reset(): void {
    this.gop = [];
    this.gopBytes = 0;
    this.gopValid = false;
  }

  private cache(unit: AccessUnit): void {
    if (unit.keyframe) {
      this.gop = [unit];
      this.gopBytes = unit.data.length;
      this.gopValid = unit.data.length <= this.maxBytes;
      return;
    }
    if (!this.gopValid) return;
    this.gop.push(unit);
    this.gopBytes += unit.data.length;
    if (this.gop.length > this.maxUnits || this.gopBytes > this.maxBytes) this.reset();
  }
}
