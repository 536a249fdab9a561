/**
 * Wires WHEP playback into the proxy: a route module for `createApp({ routes })` with the
 * viewers fed from a {@link UnitSource}, ICE like the WHIP ingest (same announced
 * addresses, ICE-lite), API-token protection, and metrics.
 */
import { WHEP_ACCESS } from "../api/access_policy.ts";
import type { RouteModule } from "../api/create_app.ts";
import type { Config } from "../config/load_config.ts";
import { iceOptionsOf } from "../ingest/whip_ingest.ts";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";
import { logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Registry } from "../registry/registry.ts";
import { ROUTE } from "../../shared/mod.ts";
import { OfferLimit } from "../webrtc/offer_limit.ts";
import { type PlaybackOptions, type UnitSource, WhepPlayback } from "./whep_playback.ts";
import { whepRoutes } from "./whep_routes.ts";

/** `"/whep/"`: the WHEP routes check token and role themselves (with CORS on their errors). */
export const WHEP_PREFIX = ROUTE.whep.slice(0, ROUTE.whep.indexOf(":"));

/** The parts of a running proxy WHEP needs (a subset of `RunningProxy`). */
export interface WhepParts {
  config: Pick<Config, "iceAddresses" | "iceServers" | "icePorts"> & Partial<Pick<Config, "maxWhepViewers" | "maxWhepViewersPerDataflow" | "maxSdpBytes">>;
  registry: Registry;
  metrics: Metrics;
}

/** Tunables passed through to {@link WhepPlayback}, and the ICE settings (default: the ingest's). */
export type WhepOptions = Partial<Omit<PlaybackOptions, "registry" | "source" | "log">> & { ice?: IngestIceOptions };

/** WHEP playback of one proxy. */
export interface Whep {
  playback: WhepPlayback;
  /** Pass to `createApp({ routes: [module] })`. */
  module: RouteModule;
}

/** Builds the playback and its route module. */
export function createWhep(parts: WhepParts, source: UnitSource, options: WhepOptions = {}): Whep {
  const playback = new WhepPlayback({
    maxViewers: parts.config.maxWhepViewers,
    maxViewersPerDataflow: parts.config.maxWhepViewersPerDataflow,
    ...options,
    registry: parts.registry,
    source,
    ice: options.ice ?? iceOptionsOf(parts.config),
    log: logger("whep"),
  });
  const offers = new OfferLimit(parts.config.maxSdpBytes);
  registerMetrics(parts.metrics, playback, offers);
  return {
    playback,
    module: {
      publicPrefixes: [WHEP_PREFIX],
      mount: (app, ctx) => {
        app.route("/", whepRoutes({ playback, requireRoles: ctx.requireRoles(WHEP_ACCESS), offers }));
      },
      close: () => playback.close(),
      flowStats: (id) => {
        const viewers = playback.viewerCount(id);
        return viewers > 0 ? { viewers } : undefined;
      },
    },
  };
}

function registerMetrics(metrics: Metrics, playback: WhepPlayback, offers: OfferLimit): void {
  metrics.gauge("vsb_whep_viewers", "WHEP viewers connected or connecting now", (s) => s.set(undefined, playback.viewerCount()));
  metrics.counter("vsb_whep_rejected_total", "WHEP viewers refused, by reason (503 total_limit: --max-whep-viewers; 503 per_dataflow_limit: --max-whep-viewers-per-dataflow; 413 offer_too_large: --max-sdp-bytes)", (s) => {
    for (const [reason, n] of Object.entries(playback.caps.rejected)) s.set({ reason }, n);
    s.set({ reason: "offer_too_large" }, offers.tooLarge);
  });
  metrics.gauge("vsb_whep_demand_leases", "Demand leases held for WHEP viewers", (s) => s.set(undefined, playback.demand.size));
  metrics.counter("vsb_whep_viewers_ended_total", "WHEP viewers ended, by reason", (s) => {
    for (const [reason, n] of Object.entries(playback.ended)) s.set({ reason }, n);
  });
  const totals = () => playback.totals();
  metrics.counter("vsb_whep_viewer_joins_total", "WHEP viewers started, by start: cached_gop (at once) or keyframe_wait", (s) => {
    s.set({ start: "cached_gop" }, playback.joins.cachedGop);
    s.set({ start: "keyframe_wait" }, playback.joins.keyframeWait);
  });
  metrics.counter("vsb_whep_frames_sent_total", "Frames sent to WHEP viewers", (s) => s.set(undefined, totals().framesSent));
  metrics.counter("vsb_whep_frames_dropped_total", "Frames WHEP viewers did not get, by reason", (s) => {
    for (const [reason, n] of Object.entries(totals().dropped)) s.set({ reason }, n);
  });
  metrics.counter("vsb_whep_rtp_packets_sent_total", "RTP packets sent to WHEP viewers", (s) => s.set(undefined, totals().packetsSent));
  metrics.counter("vsb_whep_rtp_bytes_sent_total", "RTP payload bytes sent to WHEP viewers", (s) => s.set(undefined, totals().bytesSent));
  metrics.counter("vsb_whep_send_errors_total", "RTP packets werift failed to send to a viewer", (s) => s.set(undefined, totals().sendErrors));
  metrics.counter("vsb_whep_keyframe_requests_total", "PLIs/FIRs received from WHEP viewers", (s) => s.set(undefined, totals().keyframeRequests));
}

/** For `startProxy(config, { routes })`: the WHEP route module, fed by `source(parts)`. */
export function whepRoutesFor<P extends WhepParts>(source: (parts: P) => UnitSource, options: WhepOptions = {}, onWhep?: (whep: Whep) => void) {
  return (parts: P): RouteModule[] => {
    const whep = createWhep(parts, source(parts), options);
    onWhep?.(whep);
    return [whep.module];
  };
}

