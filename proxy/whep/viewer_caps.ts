/**
 * The WHEP viewer caps (`--max-whep-viewers`, `--max-whep-viewers-per-dataflow`) as
 * reservations: a slot is taken synchronously, before the `await` that negotiates the peer,
 * and counts against both caps until it is released (the viewer then counts itself, or the
 * negotiation failed). Parallel POSTs therefore cannot all pass a check made before any of
 * them finished.
 */

/** Default of `--max-whep-viewers`. */
export const MAX_WHEP_VIEWERS = 64;
/** Default of `--max-whep-viewers-per-dataflow`. */
export const MAX_WHEP_VIEWERS_PER_DATAFLOW = 32;

/** Why a viewer was refused, as `vsb_whep_rejected_total{reason}` says it. */
export const VIEWER_CAP_REASONS = ["total_limit", "per_dataflow_limit"] as const;
/** One of {@link VIEWER_CAP_REASONS}. */
export type ViewerCapReason = typeof VIEWER_CAP_REASONS[number];

/** The proxy, or the dataflow, has as many viewers as it takes (HTTP 503). */
export class TooManyViewersError extends Error {
  constructor(readonly reason: ViewerCapReason, readonly limit: number, readonly dataflowId: number) {
    super(reason === "total_limit"
      ? `this proxy already serves ${limit} WHEP viewers, the most --max-whep-viewers allows`
      : `dataflow ${dataflowId} already has ${limit} WHEP viewers, the most --max-whep-viewers-per-dataflow allows`);
    this.name = "TooManyViewersError";
  }
}

/** Viewers counted now (the ones that finished negotiating). */
export interface ViewerCounts {
  /** Viewers of `dataflowId`, or of all dataflows when undefined. */
  (dataflowId?: number): number;
}

/** Options of {@link ViewerCaps}; each field documents its default. */
export interface ViewerCapsOptions {
  /** Viewers at most, over all dataflows. Default {@link MAX_WHEP_VIEWERS}. */
  total?: number;
  /** Viewers at most of one dataflow. Default {@link MAX_WHEP_VIEWERS_PER_DATAFLOW}. */
  perDataflow?: number;
}

/** Counts viewers being negotiated beside the established ones, against both caps. */
export class ViewerCaps {
  /** Viewers refused, by reason. */
  readonly rejected = Object.fromEntries(VIEWER_CAP_REASONS.map((r) => [r, 0])) as Record<ViewerCapReason, number>;
  private pendingTotal = 0;
  private readonly pending = new Map<number, number>();
  private readonly total: number;
  private readonly perDataflow: number;

  constructor(private readonly counts: ViewerCounts, options: ViewerCapsOptions = {}) {
    this.total = options.total ?? MAX_WHEP_VIEWERS;
    this.perDataflow = options.perDataflow ?? MAX_WHEP_VIEWERS_PER_DATAFLOW;
  }

  /** Viewers being negotiated now (of `dataflowId`, or all). */
  negotiating(dataflowId?: number): number {
    return dataflowId === undefined ? this.pendingTotal : this.pending.get(dataflowId) ?? 0;
  }

  /**
   * Takes a slot for a viewer of `dataflowId`, or throws {@link TooManyViewersError} (counted).
   * Call the returned function (idempotent) once the viewer is counted by `counts` or has failed.
   */
  reserve(dataflowId: number): () => void {
    const reason = this.counts() + this.pendingTotal >= this.total
      ? "total_limit"
      : this.counts(dataflowId) + this.negotiating(dataflowId) >= this.perDataflow
      ? "per_dataflow_limit"
      : undefined;
    if (reason) {
      this.rejected[reason]++;
      throw new TooManyViewersError(reason, reason === "total_limit" ? this.total : this.perDataflow, dataflowId);
    }
    this.pendingTotal++;
    this.pending.set(dataflowId, this.negotiating(dataflowId) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pendingTotal--;
      const left = this.negotiating(dataflowId) - 1;
      if (left > 0) this.pending.set(dataflowId, left);
      else this.pending.delete(dataflowId);
    };
  }
}
