/**
 * The one warning of a stream whose access units go over `--max-access-unit-bytes`: at most
 * one line per stream per minute, saying how many units were dropped since the last line (the
 * count itself is `vsb_access_units_oversize_total`). A sender stuck on one timestamp would
 * otherwise write a line per unit it starts.
 */
import type { Logger } from "../log.ts";
import type { AssemblerOutput } from "../media/frame_assembler.ts";
import { DEFAULT_MAX_ACCESS_UNIT_BYTES } from "../media/h264_depacketizer.ts";

/** Minimum time between two warnings of one stream. */
export const OVERSIZE_WARN_INTERVAL_MS = 60_000;

/** Rate-limited "access unit over the bound" warnings of one stream. */
export class OversizeWarning {
  private lastMs = -Infinity;
  private unreported = 0;

  constructor(
    private readonly log: Logger,
    private readonly dataflowId: number,
    private readonly maxBytes = DEFAULT_MAX_ACCESS_UNIT_BYTES,
  ) {}

  /** Looks at the drops of one assembler output received at `nowMs`; warns when one is due. */
  note(drops: AssemblerOutput["drops"], nowMs: number, sessionId: string): void {
    for (const drop of drops) if (drop.reason === "oversize") this.unreported++;
    if (this.unreported === 0 || nowMs - this.lastMs < OVERSIZE_WARN_INTERVAL_MS) return;
    this.log.warn("access units dropped over --max-access-unit-bytes", {
      dataflowId: this.dataflowId, sessionId, maxAccessUnitBytes: this.maxBytes, dropped: this.unreported,
    });
    this.lastMs = nowMs;
    this.unreported = 0;
  }
}
