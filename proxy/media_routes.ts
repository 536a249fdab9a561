/**
 * The MEC media path as route modules for `startProxy(config, { routes: mediaRoutesFor() })`:
 *
 *   POST /whip/{id} ─► WHIP session ─► DataflowStream ─RTP──► UDP forward (RTX unwrapped)
 *                                                     ─frames─► bus output ─► RabbitMQ `video`
 *                                                             └► WHEP playback (POST /whep/{id})
 *   RabbitMQ `video` (a dataflow another replica ingests) ─frames─► WHEP playback
 *
 * plus the `newdataflow`/`terminatedataflow` follower, the media metrics and each dataflow's
 * live `stats` in `GET /dataflows`. What the media path holds of a dataflow has one owner
 * (proxy/stream/dataflow_owners.ts): its one listener on the registry's "ended" ends the WHIP
 * session, then the WHEP viewers, then the stream and its outputs, then forgets the dataflow.
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
import { MediaStreams, type StreamOutputs } from "./outputs/media_streams.ts";
import { DataflowOwners } from "./stream/dataflow_owners.ts";
import type { ForwardTotals } from "./outputs/udp_forward_output.ts";

/** Options and test hooks of {@link mediaRoutesFor}. */
export interface MediaRoutesOptions {
  whep?: WhepOptions;
  assembler?: FrameAssemblerOptions;
  onIngest?: (ingest: WhipIngest) => void;
  onWhep?: (whep: Whep) => void;
  onStreams?: (streams: MediaStreams) => void;
  /** Called with the dataflows' owners once they are made (tests). */
  onOwners?: (owners: DataflowOwners<StreamOutputs>) => void;
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
    const owners = new DataflowOwners<StreamOutputs>({ log: logger("media") });
    options.onOwners?.(owners);
    const streams = new MediaStreams({
      owners,
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
      followEnds: false, // the owner ends sessions, first
    })(parts);
    owners.endSession = (id) => ingest?.endDataflow(id);
    // Viewers of a dataflow another replica ingests are fed from RabbitMQ (one code path: DataflowFrames).
    const busFrames = new BusFrameSource({ bus: parts.bus, log: logger("whep-bus") });
    registerBusSourceMetrics(parts.metrics, busFrames);
    options.onBusFrames?.(busFrames);
    const frames = new DataflowFrames(streams, busFrames, (id) => parts.registry.storedState(id));
    const whep = whepRoutesFor(() => frames, { ...options.whep, owners }, options.onWhep)(parts);
    // The one listener of the media path on "ended" (announcer and metrics only report ends).
    const offEnded = parts.registry.on("ended", ({ id }) => owners.end(id));
    const media: RouteModule = {
      mount: () => undefined,
      flowStats: (id) => {
        const stats = streams.statsOf(id);
        return stats ? { ...stats } : undefined;
      },
      // Sessions end as "shutdown" (no terminatedataflow: the registry announces real ends).
      close: async () => {
        offEnded();
        await ingest?.close();
        streams.close();
        stopLagWatch();
        await busFrames.close();
      },
    };
    return [...whip, ...whep, media];
  };
}
