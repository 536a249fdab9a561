/**
 * The MEC media path as route modules for `startProxy(config, { routes: mediaRoutesFor() })`:
 *
 *   POST /whip/{id} ─► WHIP session ─► DataflowStream ─RTP──► UDP forward (RTX unwrapped)
 *                                                     ─frames─► bus output ─► RabbitMQ `video`
 *                                                             └► WHEP playback (POST /whep/{id})
 *   RabbitMQ `video` (a dataflow another replica ingests) ─frames─► WHEP playback
 *
 * plus the `newdataflow`/`terminatedataflow` follower, the media metrics and each dataflow's
 * live `stats` in `GET /dataflows`.
 */
import type { RouteModule } from "./api/create_app.ts";
import type { BusConnection } from "./bus/bus_connection.ts";
import type { Config } from "./config/load_config.ts";
import type { IngestParts, WhipIngest } from "./ingest/whip_ingest.ts";
import { whipRoutesFor } from "./ingest/whip_ingest.ts";
import { logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { FrameAssemblerOptions } from "./media/frame_assembler.ts";
import type { Registry } from "./registry/registry.ts";
import { BusFrameSource } from "./frames/bus_frame_source.ts";
import { registerBusSourceMetrics } from "./frames/bus_source_metrics.ts";
import { DataflowFrames } from "./frames/dataflow_frames.ts";
import { type Whep, type WhepOptions, type WhepParts, whepRoutesFor } from "./whep/whep_module.ts";
import type { DataflowEvents } from "./outputs/dataflow_events.ts";
import { glassToBusHistogram, receiveToConfirmHistogram, registerMediaMetrics, watchEventLoop } from "./outputs/media_metrics.ts";
import { MediaStreams } from "./outputs/media_streams.ts";
import type { ForwardTotals } from "./outputs/udp_forward_output.ts";

/** Options and test hooks of {@link mediaRoutesFor}. */
export interface MediaRoutesOptions {
  whep?: WhepOptions;
  assembler?: FrameAssemblerOptions;
  onIngest?: (ingest: WhipIngest) => void;
  onWhep?: (whep: Whep) => void;
  onStreams?: (streams: MediaStreams) => void;
  onBusFrames?: (source: BusFrameSource) => void;
}

/** What the media path needs of a running proxy (a subset of `RunningProxy`). */
export type MediaParts = IngestParts & WhepParts & {
  bus: BusConnection;
  registry: Pick<Registry, "storedState">;
  events: DataflowEvents;
  config: Partial<Pick<Config, "maxAccessUnitBytes" | "maxNackBurst">>;
};

/** The bounds of `--max-access-unit-bytes` and `--max-nack-burst`, under `overrides` (tests). */
export function assemblerOptionsOf(config: Partial<Pick<Config, "maxAccessUnitBytes" | "maxNackBurst">>, overrides: FrameAssemblerOptions = {}): FrameAssemblerOptions {
  return {
    maxAccessUnitBytes: config.maxAccessUnitBytes,
    ...overrides,
    jitter: { maxNackBurst: config.maxNackBurst, ...overrides.jitter },
  };
}

function registerForwardMetrics(metrics: Metrics, totals: ForwardTotals): void {
  metrics.counter("vsb_udp_forward_packets_total", "RTP packets re-sent over UDP", (s) => s.set(undefined, totals.packets));
  metrics.counter("vsb_udp_forward_bytes_total", "RTP bytes re-sent over UDP", (s) => s.set(undefined, totals.bytes));
  metrics.counter("vsb_udp_forward_errors_total", "UDP forward socket errors", (s) => s.set(undefined, totals.errors));
  metrics.counter("vsb_udp_forward_dropped_total", "RTP packets not forwarded: too many held while a socket connected, or the socket's send buffer was full", (s) => s.set(undefined, totals.dropped));
}

/** The forward port of dataflow `id` from the registry (undefined when it has none). */
function forwardTarget(registry: MediaParts["registry"]) {
  return (id: number) => registry.peek(id)?.udpForward ?? undefined;
}

/** WHIP ingest, one stream per dataflow feeding RabbitMQ, UDP forward and WHEP; see the file comment. */
export function mediaRoutesFor(options: MediaRoutesOptions = {}) {
  return (parts: MediaParts): RouteModule[] => {
    const streams = new MediaStreams({
      registry: parts.registry,
      publisher: parts.publisher,
      queueSeconds: parts.config.publishQueueSeconds,
      log: logger("media"),
      assembler: assemblerOptionsOf(parts.config, options.assembler),
      receiveToConfirm: receiveToConfirmHistogram(parts.metrics),
      glassToBus: glassToBusHistogram(parts.metrics),
      forwardTarget: forwardTarget(parts.registry),
    });
    const events = parts.events;
    registerMediaMetrics(parts.metrics, streams, events);
    const stopLagWatch = watchEventLoop(parts.metrics);
    registerForwardMetrics(parts.metrics, streams.forwardTotals);
    options.onStreams?.(streams);
    let ingest: WhipIngest | undefined;
    const whip = whipRoutesFor(() => streams.sinks, {
      onIngest: (i) => {
        ingest = i;
        options.onIngest?.(i);
      },
      heard: events,
    })(parts);
    // Viewers of a dataflow another replica ingests are fed from RabbitMQ (one code path: DataflowFrames).
    const busFrames = new BusFrameSource({ bus: parts.bus, log: logger("whep-bus") });
    registerBusSourceMetrics(parts.metrics, busFrames);
    options.onBusFrames?.(busFrames);
    const frames = new DataflowFrames(streams, busFrames, (id) => parts.registry.storedState(id));
    const whep = whepRoutesFor(() => frames, options.whep ?? {}, options.onWhep)(parts);
    const media: RouteModule = {
      mount: () => undefined,
      flowStats: (id) => {
        const stats = streams.statsOf(id);
        return stats ? { ...stats } : undefined;
      },
      // Sessions end as "shutdown" (no terminatedataflow: the registry announces real ends).
      close: async () => {
        await ingest?.close();
        streams.close();
        stopLagWatch();
        await busFrames.close();
      },
    };
    return [...whip, ...whep, media];
  };
}
