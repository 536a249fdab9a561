/**
 * Each WHIP session's access units → one message per frame on exchange `video`, routing key
 * `video.{dataSubType}.{id}`, with the 5GMETA headers plus the frame ones (DESIGN.md "Message
 * bus"). Frames wait in the dataflow's own bounded lane (`--publish-queue-seconds` of video);
 * when it is full the frame is dropped and counted, and so is every frame up to the next
 * keyframe (a consumer never gets a P-frame whose reference was dropped), with a PLI asking
 * for that keyframe at once.
 */
import { eventHeaders, type FrameHeaders, HEADER, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import type { Lane } from "../bus/lane.ts";
import type { Publisher } from "../bus/publisher.ts";
import { logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { AccessUnit, AssemblerCounters, FrameAssembler } from "../media/frame_assembler.ts";
import type { Registry } from "../registry/registry.ts";
import { assemblerSinks } from "./assembler_sink.ts";
import type { SinkFactory } from "./ingest_types.ts";

/** Why the bus output dropped a whole frame. */
export type OutputDropReason = "queue-full" | "after-queue-full" | "no-metadata";

/** Options of {@link busFrameSinks}. */
export interface BusFrameOptions {
  registry: Registry;
  publisher: Publisher;
  /** Seconds of video a lane holds while the broker is slow or away (`--publish-queue-seconds`). */
  queueSeconds: number;
  metrics?: Metrics;
}

/** Lane bound in bytes per second of video: 8 Mbit/s, twice a 4 Mbit/s 720p stream. */
const LANE_BYTES_PER_SECOND = 1_000_000;

/** Totals over every session, for metrics. */
class Totals {
  readonly dropped: Record<OutputDropReason, number> = { "queue-full": 0, "after-queue-full": 0, "no-metadata": 0 };
  published = 0;
  private retired: AssemblerCounters | undefined;
  readonly live = new Set<FrameAssembler>();

  retire(assembler: FrameAssembler): void {
    this.live.delete(assembler);
    this.retired = this.retired ? sum(this.retired, assembler.counters) : structuredClone(assembler.counters);
  }

  assembler(): AssemblerCounters | undefined {
    let out = this.retired ? structuredClone(this.retired) : undefined;
    for (const a of this.live) out = out ? sum(out, a.counters) : structuredClone(a.counters);
    return out;
  }
}

function sum(a: AssemblerCounters, b: AssemblerCounters): AssemblerCounters {
  const out = structuredClone(a);
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === "number") (out as unknown as Record<string, number>)[k] = ((a as unknown as Record<string, number>)[k] ?? 0) + v;
    else {
      const into = (out as unknown as Record<string, Record<string, number>>)[k]!;
      for (const [r, n] of Object.entries(v as Record<string, number>)) into[r] = (into[r] ?? 0) + n;
    }
  }
  return out;
}

/** The sink factory that publishes every session's frames to RabbitMQ. */
export function busFrameSinks(options: BusFrameOptions): SinkFactory {
  const log = logger("frames");
  const totals = new Totals();
  if (options.metrics) registerMetrics(options.metrics, totals);
  const state = new Map<string, { lane: Lane; awaitingKeyframe: boolean }>();
  return assemblerSinks({
    onOpen: (info, assembler) => {
      totals.live.add(assembler);
      const metadata = options.registry.metadataOf(info.dataflowId);
      const fps = metadata?.videoInfo?.fps ?? (metadata?.dataInfo.dataSampleRate || 30);
      const seconds = Math.max(options.queueSeconds, 0.5);
      const lane = options.publisher.lane(`frames.${info.dataflowId}`, {
        maxMessages: Math.max(8, Math.ceil(seconds * fps)),
        maxBytes: Math.ceil(seconds * LANE_BYTES_PER_SECOND),
        overflow: "drop-newest",
      });
      state.set(info.sessionId, { lane, awaitingKeyframe: false });
    },
    onFrames: (info, units) => {
      const s = state.get(info.sessionId);
      const metadata = options.registry.metadataOf(info.dataflowId);
      if (!s || !metadata) {
        totals.dropped["no-metadata"] += units.length;
        return false;
      }
      let wantKeyframe = false;
      for (const unit of units) {
        if (s.awaitingKeyframe && !unit.keyframe) {
          totals.dropped["after-queue-full"]++;
          continue;
        }
        s.awaitingKeyframe = false;
        const msg = {
          exchange: VIDEO_EXCHANGE,
          routingKey: videoRoutingKey(metadata.dataTypeInfo.dataSubType, info.dataflowId),
          body: unit.data,
          headers: frameHeaders(info.dataflowId, metadata, unit),
          contentType: "video/h264",
        };
        if (options.publisher.publish(s.lane, msg)) {
          totals.published++;
        } else {
          totals.dropped["queue-full"]++;
          s.awaitingKeyframe = true;
          wantKeyframe = true;
        }
      }
      return wantKeyframe;
    },
    onClose: (info, reason, assembler) => {
      totals.retire(assembler);
      state.delete(info.sessionId);
      log.info("frames of session", { dataflowId: info.dataflowId, reason, framesOut: assembler.counters.framesOut, lost: assembler.counters.lost });
    },
  });
}

function frameHeaders(id: number, metadata: NonNullable<ReturnType<Registry["metadataOf"]>>, unit: AccessUnit): FrameHeaders {
  return {
    ...eventHeaders(id, metadata, unit.data.length),
    [HEADER.keyframe]: unit.keyframe,
    [HEADER.seq]: unit.seq,
    [HEADER.rtpTimestamp]: unit.rtpTimestamp,
    // No sender clock (RTCP SR) mapping yet: capture time is the first packet's arrival.
    [HEADER.captureTime]: unit.firstPacketArrivalMs,
    [HEADER.receiveTime]: unit.firstPacketArrivalMs,
    [HEADER.width]: unit.width ?? metadata.videoInfo?.width ?? 0,
    [HEADER.height]: unit.height ?? metadata.videoInfo?.height ?? 0,
  };
}

function registerMetrics(metrics: Metrics, totals: Totals): void {
  metrics.counter("vsb_frames_published_total", "Frames handed to the bus", (s) => s.set(undefined, totals.published));
  metrics.counter("vsb_frames_dropped_total", "Frames dropped, by reason", (s) => {
    for (const [reason, n] of Object.entries(totals.dropped)) s.set({ reason }, n);
    for (const [reason, n] of Object.entries(totals.assembler()?.framesDropped ?? {})) s.set({ reason }, n);
  });
  metrics.counter("vsb_frames_assembled_total", "Access units assembled from RTP", (s) => s.set(undefined, totals.assembler()?.framesOut ?? 0));
  metrics.counter("vsb_rtp_packets_dropped_total", "RTP packets not accepted by the jitter buffer, by reason", (s) => {
    for (const [reason, n] of Object.entries(totals.assembler()?.packetsDropped ?? {})) s.set({ reason }, n);
  });
  metrics.counter("vsb_rtp_packets_lost_total", "RTP packets given up on after NACKs", (s) => s.set(undefined, totals.assembler()?.lost ?? 0));
}
