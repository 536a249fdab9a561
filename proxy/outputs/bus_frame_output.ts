/**
 * The RabbitMQ output of one dataflow (DESIGN.md "Message bus"): one message per access unit
 * on exchange `video`, routing key `video.{dataSubType}.{id}`, body Annex-B (SPS/PPS before
 * every keyframe), the five event headers plus `body_size`, `keyframe`, `seq`, `rtpTimestamp`,
 * `captureTime`, `receiveTime`, `width`, `height`; publisher confirms on.
 *
 * Its bounded queue is the dataflow's own Publisher lane, sized to `--publish-queue-seconds` of
 * video. When the lane is full the frame is dropped and counted, and so is every frame up to the
 * next keyframe (a consumer never gets a P-frame whose reference is missing); the stream then
 * asks the publisher for that keyframe at once (PLI).
 */
import { type EventHeaders, eventHeaders, type FrameHeaders, HEADER, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import type { DataflowMetadata } from "../../shared/mod.ts";
import type { Lane } from "../bus/lane.ts";
import type { Publisher } from "../bus/publisher.ts";
import type { HistogramChild } from "../metrics.ts";
import type { AccessUnit } from "../media/frame_assembler.ts";
import type { FrameOutput, StreamContext } from "./frame_output.ts";

/** Why the bus output dropped a whole frame. */
export type BusDropReason = "queue-full" | "after-queue-full" | "no-metadata" | "unconfirmed";

/** Every `BusDropReason`, for metrics. */
export const BUS_DROP_REASONS: readonly BusDropReason[] = ["queue-full", "after-queue-full", "no-metadata", "unconfirmed"];

/** Lane bound in bytes per second of video: 8 Mbit/s, twice a 4 Mbit/s 720p stream. */
export const LANE_BYTES_PER_SECOND = 1_000_000;

/** The lane name of dataflow `id`'s frames. */
export function frameLaneName(id: number): string {
  return `frames.${id}`;
}

/** Options of {@link BusFrameOutput}. */
export interface BusFrameOutputOptions {
  publisher: Publisher;
  /** The dataflow's metadata now (undefined once it ended). */
  metadata: () => DataflowMetadata | undefined;
  /** Seconds of video the lane holds while the broker is slow or away (`--publish-queue-seconds`). */
  queueSeconds: number;
  /** Observes first-packet-arrival → broker confirm, in seconds. */
  receiveToConfirm?: HistogramChild;
  /** Wall clock in ms (for the latency above). Default `Date.now`. */
  now?: () => number;
}

/** Frames of one dataflow → RabbitMQ; see the file comment. */
export class BusFrameOutput implements FrameOutput {
  readonly name = "bus";
  readonly dropped: Record<BusDropReason, number> = { "queue-full": 0, "after-queue-full": 0, "no-metadata": 0, unconfirmed: 0 };
  /** Frames handed to the lane. */
  queued = 0;
  /** Frames the broker confirmed. */
  confirmed = 0;
  /** Body bytes the broker confirmed. */
  confirmedBytes = 0;
  private awaitingKeyframe = false;
  private lane: Lane | undefined;
  private readonly now: () => number;
  private base: { metadata: DataflowMetadata; headers: EventHeaders; routingKey: string } | undefined;

  constructor(readonly dataflowId: number, private readonly options: BusFrameOutputOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Sizes the lane from the dataflow's fps (a new session may have new metadata). */
  sessionStarted(): void {
    const metadata = this.options.metadata();
    const fps = metadata?.videoInfo?.fps ?? (metadata?.dataInfo.dataSampleRate || 30);
    const seconds = Math.max(this.options.queueSeconds, 0.5);
    this.lane = this.options.publisher.lane(frameLaneName(this.dataflowId), {
      maxMessages: Math.max(8, Math.ceil(seconds * fps)),
      maxBytes: Math.ceil(seconds * LANE_BYTES_PER_SECOND),
      overflow: "drop-newest",
    });
    this.awaitingKeyframe = false;
  }

  push(unit: AccessUnit, _stream: StreamContext): void | "keyframe" {
    const metadata = this.options.metadata();
    if (!metadata) {
      this.dropped["no-metadata"]++;
      return;
    }
    if (this.awaitingKeyframe && !unit.keyframe) {
      this.dropped["after-queue-full"]++;
      return;
    }
    this.awaitingKeyframe = false;
    if (!this.lane) this.sessionStarted();
    const base = this.baseOf(metadata);
    const state = { queued: false };
    const ok = this.options.publisher.publish(this.lane!, {
      exchange: VIDEO_EXCHANGE,
      routingKey: base.routingKey,
      body: unit.data,
      headers: frameHeaders(base.headers, metadata, unit),
      contentType: "video/h264",
      onSettled: (confirmed) => this.settled(unit, confirmed, state.queued),
    });
    if (ok) {
      state.queued = true;
      this.queued++;
      return;
    }
    this.dropped["queue-full"]++;
    this.awaitingKeyframe = true;
    return "keyframe";
  }

  /** Headers and routing key that only change with the metadata (a keep-alive may update it). */
  private baseOf(metadata: DataflowMetadata): NonNullable<BusFrameOutput["base"]> {
    if (this.base?.metadata !== metadata) {
      this.base = {
        metadata,
        headers: eventHeaders(this.dataflowId, metadata, 0),
        routingKey: videoRoutingKey(metadata.dataTypeInfo.dataSubType, this.dataflowId),
      };
    }
    return this.base;
  }

  private settled(unit: AccessUnit, ok: boolean, queued: boolean): void {
    if (ok) {
      this.confirmed++;
      this.confirmedBytes += unit.data.length;
      this.options.receiveToConfirm?.observe((this.now() - unit.firstPacketArrivalMs) / 1000);
    } else if (queued) {
      // Written (or queued) but nacked, or lost with the connection, or the lane closed.
      this.dropped.unconfirmed++;
    }
  }

  /** Messages waiting in this output's lane. */
  get depth(): number {
    return this.lane?.depth ?? 0;
  }

  /** The dataflow ended: what is still queued is dropped (counted by the lane). */
  close(): void {
    this.options.publisher.closeLane(frameLaneName(this.dataflowId));
    this.lane = undefined;
  }
}

/**
 * The headers of one frame message (shared FrameHeadersSchema). `base` = `eventHeaders(id,
 * metadata, 0)`, computed once per metadata (a zoom-25 quadkey per frame would cost CPU for nothing).
 */
export function frameHeaders(base: EventHeaders, metadata: DataflowMetadata, unit: AccessUnit): FrameHeaders {
  return {
    ...base,
    [HEADER.bodySize]: unit.data.length,
    [HEADER.keyframe]: unit.keyframe,
    [HEADER.seq]: unit.seq,
    [HEADER.rtpTimestamp]: unit.rtpTimestamp,
    // No sender clock mapping (RTCP SR) yet: capture time is the first packet's arrival.
    [HEADER.captureTime]: unit.firstPacketArrivalMs,
    [HEADER.receiveTime]: unit.firstPacketArrivalMs,
    [HEADER.width]: unit.width ?? metadata.videoInfo?.width ?? 0,
    [HEADER.height]: unit.height ?? metadata.videoInfo?.height ?? 0,
  };
}
