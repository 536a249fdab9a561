/**
 * The RabbitMQ output of one dataflow (DESIGN.md "Message bus"): one message per access unit
 * on exchange `video`, routing key `video.{dataSubType}.{id}`, body Annex-B (SPS/PPS before
 * every keyframe), the five event headers plus `body_size`, `keyframe`, `seq`, `rtpTimestamp`,
 * `captureTime`, `receiveTime`, `captureTimeSource`, `width`, `height` (capture time: see
 * capture_time.ts); publisher confirms on. The same fields ride
 * along as AMQP 1.0 application properties, with an AMQP 1.0 properties section (RabbitMQ's
 * `x-amqp-1.0-*` headers, proxy/bus/amqp10_app_properties.ts), for AMQP 1.0 receivers.
 *
 * Its bounded queue is the dataflow's own Publisher lane, sized to `--publish-queue-seconds` of
 * video. A consumer never gets a P-frame whose reference is missing: after any loss on the bus
 * path publishing resumes only at a keyframe, and the stream asks the publisher for one (PLI).
 *   - lane full: the frame is dropped, and so is every frame up to the next keyframe;
 *   - a frame written but lost (the connection dropped before the broker confirmed it, or the
 *     broker nacked it): the P-frames queued behind it are dropped up to the next queued
 *     keyframe, and when none is queued every frame pushed until the next keyframe.
 * Frames already written behind a single nacked one cannot be called back; a connection loss
 * fails every unconfirmed frame at once, so none of those reaches a consumer.
 */
import { AMQP10_HEADER, CAPTURE_TIME_SOURCE, type CaptureTimeSource, type EventHeaders, eventHeaders, type FrameHeaders, HEADER, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import type { DataflowMetadata } from "../../shared/mod.ts";
import { AppPropertiesWriter } from "../bus/amqp10_app_properties.ts";
import { PropertiesWriter } from "../bus/amqp10_properties.ts";
import type { DropReason, Lane, OutMessage } from "../bus/lane.ts";
import type { Publisher } from "../bus/publisher.ts";
import type { HistogramChild } from "../metrics.ts";
import type { AccessUnit } from "../media/frame_assembler.ts";
import { frameCaptureTime, LatencyWindow } from "./capture_time.ts";
import type { FrameOutput, StreamContext } from "../stream/frame_output.ts";

/**
 * Why the bus output dropped a whole frame: the lane was full, or it came after a full lane
 * before the next keyframe; the dataflow had ended; it was written but never confirmed (lost
 * with the connection, nacked, lane closed); or it came after such a lost frame before the next
 * keyframe (queued or pushed).
 */
export type BusDropReason = "queue-full" | "after-queue-full" | "no-metadata" | "unconfirmed" | "after-loss";

/** Every `BusDropReason`, for metrics. */
export const BUS_DROP_REASONS: readonly BusDropReason[] = ["queue-full", "after-queue-full", "no-metadata", "unconfirmed", "after-loss"];

/** Content type of a frame message (0-9-1 basic property and AMQP 1.0 content-type). */
export const FRAME_CONTENT_TYPE = "video/h264";

/** The frame headers that change per frame, in the order the AMQP 1.0 map carries them. */
const PER_FRAME_KEYS = [
  HEADER.bodySize, HEADER.keyframe, HEADER.seq, HEADER.rtpTimestamp, HEADER.captureTime, HEADER.receiveTime,
  HEADER.captureTimeSource, HEADER.width, HEADER.height,
] as const;

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
  /** Observes capture (sender's clock) → broker confirm, in seconds, of frames with a sender capture time. */
  glassToBus?: HistogramChild;
  /** Wall clock in ms (for the latency above). Default `Date.now`. */
  now?: () => number;
}

/** Frames of one dataflow → RabbitMQ; see the file comment. */
export class BusFrameOutput implements FrameOutput {
  readonly name = "bus";
  readonly dropped: Record<BusDropReason, number> = { "queue-full": 0, "after-queue-full": 0, "no-metadata": 0, unconfirmed: 0, "after-loss": 0 };
  /** Frames handed to the lane. */
  queued = 0;
  /** Frames the broker confirmed. */
  confirmed = 0;
  /** Body bytes the broker confirmed. */
  confirmedBytes = 0;
  /** Frames whose sender capture time lay in the future (clamped, see capture_time.ts). */
  captureInFuture = 0;
  /** Glass-to-bus ms of the last confirmed frames with a sender capture time. */
  readonly glassToBusWindow = new LatencyWindow();
  /** Frames are dropped until the next keyframe, counted as this reason (undefined: publishing). */
  private awaiting: "after-queue-full" | "after-loss" | undefined;
  /** A keyframe was asked for since `awaiting` was set. */
  private keyframeAsked = false;
  private lane: Lane | undefined;
  private readonly now: () => number;
  private base: FrameBase | undefined;

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
    this.awaiting = undefined;
  }

  push(unit: AccessUnit, _stream: StreamContext): void | "keyframe" {
    const metadata = this.options.metadata();
    if (!metadata) {
      this.dropped["no-metadata"]++;
      return;
    }
    if (this.awaiting && !unit.keyframe) {
      this.dropped[this.awaiting]++;
      if (this.keyframeAsked) return;
      this.keyframeAsked = true;
      return "keyframe";
    }
    this.awaiting = undefined;
    if (!this.lane) this.sessionStarted();
    const base = this.baseOf(metadata);
    const state = { queued: false };
    const capture = frameCaptureTime(unit);
    if (capture.source === CAPTURE_TIME_SOURCE.clamped) this.captureInFuture++;
    const ok = this.options.publisher.publish(this.lane!, {
      exchange: VIDEO_EXCHANGE,
      routingKey: base.routingKey,
      body: unit.data,
      headers: withAmqp10(base, frameHeaders(base.headers, metadata, unit, capture)),
      contentType: FRAME_CONTENT_TYPE,
      onSettled: (confirmed, reason) => this.settled(unit, confirmed, state.queued, reason, capture),
    });
    if (ok) {
      state.queued = true;
      this.queued++;
      return;
    }
    this.dropped["queue-full"]++;
    this.awaiting = "after-queue-full";
    this.keyframeAsked = true;
    return "keyframe";
  }

  /** Headers and routing key that only change with the metadata (a keep-alive may update it). */
  private baseOf(metadata: DataflowMetadata): FrameBase {
    if (this.base?.metadata !== metadata) this.base = frameBase(this.dataflowId, metadata);
    return this.base;
  }

  private settled(unit: AccessUnit, ok: boolean, queued: boolean, reason: DropReason | undefined, capture: FrameCapture): void {
    if (ok) {
      this.confirmed++;
      this.confirmedBytes += unit.data.length;
      const now = this.now();
      this.options.receiveToConfirm?.observe((now - unit.firstPacketArrivalMs) / 1000);
      if (capture.source === CAPTURE_TIME_SOURCE.sender) {
        this.options.glassToBus?.observe((now - capture.ms) / 1000);
        this.glassToBusWindow.add(now - capture.ms);
      }
      return;
    }
    if (!queued) return; // refused by a full lane: counted by push()
    if (reason === "after-loss") {
      this.dropped["after-loss"]++;
      return;
    }
    // Written (or queued) but nacked, or lost with the connection, or the lane closed.
    this.dropped.unconfirmed++;
    if (reason !== "closed") this.lost();
  }

  /** A frame already written was lost: what follows it is useless until the next keyframe. */
  private lost(): void {
    const lane = this.lane;
    if (!lane) return;
    // Everything still queued came after the lost frame (one FIFO, written in order).
    lane.dropWhile((msg) => !isKeyframe(msg), "after-loss");
    if (lane.depth > 0 || this.awaiting) return; // a keyframe leads the lane, or one is awaited already
    this.awaiting = "after-loss";
    this.keyframeAsked = false;
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

/** A frame's `captureTime` and its source. */
type FrameCapture = { ms: number; source: CaptureTimeSource };

/** What only changes with a dataflow's metadata: its headers, routing key and AMQP 1.0 prefixes. */
interface FrameBase {
  metadata: DataflowMetadata;
  headers: EventHeaders;
  routingKey: string;
  appProperties: AppPropertiesWriter;
  properties: PropertiesWriter;
}

function frameBase(id: number, metadata: DataflowMetadata): FrameBase {
  const headers = eventHeaders(id, metadata, 0);
  const routingKey = videoRoutingKey(metadata.dataTypeInfo.dataSubType, id);
  const { [HEADER.bodySize]: _perFrame, ...constant } = headers;
  return {
    metadata, headers, routingKey,
    appProperties: new AppPropertiesWriter(constant, PER_FRAME_KEYS),
    properties: new PropertiesWriter({ subject: routingKey, contentType: FRAME_CONTENT_TYPE }),
  };
}

/** `headers` plus their AMQP 1.0 sections (creation-time: the frame's receive time). */
function withAmqp10(base: FrameBase, headers: FrameHeaders): Record<string, unknown> {
  return {
    ...headers,
    [AMQP10_HEADER.applicationProperties]: base.appProperties.write(headers),
    [AMQP10_HEADER.properties]: base.properties.write(headers[HEADER.receiveTime]),
  };
}

function isKeyframe(msg: OutMessage): boolean {
  return msg.headers?.[HEADER.keyframe] === true;
}

/**
 * The headers of one frame message (shared FrameHeadersSchema). `base` = `eventHeaders(id,
 * metadata, 0)`, computed once per metadata (a zoom-25 quadkey per frame would cost CPU for nothing).
 */
export function frameHeaders(base: EventHeaders, metadata: DataflowMetadata, unit: AccessUnit, capture = frameCaptureTime(unit)): FrameHeaders {
  return {
    ...base,
    [HEADER.bodySize]: unit.data.length,
    [HEADER.keyframe]: unit.keyframe,
    [HEADER.seq]: unit.seq,
    [HEADER.rtpTimestamp]: unit.rtpTimestamp,
    [HEADER.captureTime]: capture.ms,
    [HEADER.receiveTime]: unit.firstPacketArrivalMs,
    [HEADER.captureTimeSource]: capture.source,
    [HEADER.width]: unit.width ?? metadata.videoInfo?.width ?? 0,
    [HEADER.height]: unit.height ?? metadata.videoInfo?.height ?? 0,
  };
}
