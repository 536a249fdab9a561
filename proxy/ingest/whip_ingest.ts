/**
 * Wires the WHIP ingest into the proxy: a route module for `createApp({ routes })`, ingest
 * tokens checked by the registration registry, media state reported back to it, sessions
 * torn down when their dataflow ends (on the registry's "ended", or, in the media path, by the
 * dataflow's owner: proxy/stream/dataflow_owners.ts, through `endDataflow`), and metrics.
 */
import { ROUTE } from "../../shared/mod.ts";
import type { RouteModule } from "../api/create_app.ts";
import type { Announcer } from "../bus/announcer.ts";
import type { Publisher } from "../bus/publisher.ts";
import type { Config } from "../config/load_config.ts";
import { parseIceServer } from "../config/options.ts";
import { OfferLimit } from "../webrtc/offer_limit.ts";
import { logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Registry } from "../registry/registry.ts";
import type { DataflowStore } from "../store/store_api.ts";
import type { SinkFactory } from "./ingest_types.ts";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";
import { type EndsHeard, SessionEndAnnouncer } from "./session_end_announcer.ts";
import type { ReplicaRows } from "../store/replica_rows.ts";
import type { ReplicaPresence } from "./replica_presence.ts";
import { replicaIngest } from "./replica_ingest.ts";
import type { SessionOwnership } from "./session_ownership.ts";
import { type RegistryOptions, SessionRegistry } from "./session_registry.ts";
import { type IngestAuth, whipRoutes } from "./whip_routes.ts";

/** Options of {@link createWhipIngest}. */
export interface WhipIngestOptions {
  registry: Registry;
  sinks: SinkFactory;
  ice: IngestIceOptions;
  metrics?: Metrics;
  /** Announces (`terminatedataflow`) sessions that end for a reason other than the dataflow's own
   * end or a takeover; closed with the ingest. Default: no announcements. */
  ends?: SessionEndAnnouncer;
  /** Reads offers within `--max-sdp-bytes`. Default: 64 KiB. */
  offers?: OfferLimit;
  /** Timeouts of the session registry (takeover, media, connect). */
  timeouts?: Pick<RegistryOptions, "takeoverAfterMs" | "mediaTimeoutMs" | "connectTimeoutMs">;
  /** This process as a replica on the store (heartbeat, WHIP session ownership). Default none: one process. */
  replica?: { rows: ReplicaRows; publicUrl: string };
  /** End sessions on the registry's "ended" itself. Default true; false when the dataflow's owner calls `endDataflow`. */
  followEnds?: boolean;
}

/** The WHIP ingest of one proxy. */
export interface WhipIngest {
  sessions: SessionRegistry;
  /** This process as a replica (with `replica`). */
  presence?: ReplicaPresence;
  /** Pass to `createApp({ routes: [module] })`. */
  module: RouteModule;
  /** Dataflow `id` ended: its session ends ("dataflow-expired") and its row in the store goes. */
  endDataflow(id: number): void;
  close(): Promise<void>;
}

/** `"/whip/"`: the prefix of every WHIP route (it checks ingest tokens, not API tokens). */
export const WHIP_PREFIX = ROUTE.whip.slice(0, ROUTE.whip.indexOf(":"));

/** Builds the ingest and subscribes it to the registration registry. */
export function createWhipIngest(options: WhipIngestOptions): WhipIngest {
  const { registry } = options;
  const log = logger("ingest");
  // deno-lint-ignore prefer-const -- `let`, not `const`: onEnd below refers to it before replicaIngest() (which needs `sessions`) gives it
  let ownership: SessionOwnership | undefined;
  const sessions = new SessionRegistry({
    ice: options.ice,
    sinks: options.sinks,
    log,
    ...options.timeouts,
    onStart: (s) => registry.setMediaState(s.dataflowId, "live"),
    // Media is presence: a WHIP-only publisher (a browser, OBS, webrtcbin) never sends keep-alives.
    onMedia: (id, at) => registry.mediaSeen(id, at),
    onEnd: (s, reason) => {
      if (s.lastPacketAt !== undefined) registry.mediaSeen(s.dataflowId, s.lastPacketAt);
      registry.setMediaState(s.dataflowId, "idle");
      ownership?.ended(s.dataflowId, s.sessionId);
      // A takeover continues the stream, and dataflow ends are announced by the registry itself.
      if (reason !== "dataflow-expired" && reason !== "shutdown" && reason !== "takeover") options.ends?.sessionEnded(s, reason);
    },
  });
  const replica = options.replica && replicaIngest(() => sessions, {
    ...options.replica, log,
    announce: (old) => options.ends?.sessionEnded(old, "replica-lost"),
  });
  ownership = replica?.ownership;
  const presence = replica?.presence;
  const endDataflow = (id: number) => {
    sessions.end(id, "dataflow-expired");
    ownership?.dataflowEnded(id);
  };
  const unsubscribe = options.followEnds === false ? () => {} : registry.on("ended", ({ id }) => endDataflow(id));
  const authenticate = async (id: number, token: string | undefined): Promise<IngestAuth> => {
    const verdict = await registry.checkIngestToken(id, token ?? "");
    if (verdict === "unknown") return "not-found";
    return verdict === "ok" && token ? "ok" : "unauthorized";
  };
  const offers = options.offers ?? new OfferLimit();
  if (options.metrics) registerMetrics(options.metrics, sessions, offers);
  if (options.metrics && presence && ownership) registerReplicaMetrics(options.metrics, presence, ownership);
  return {
    sessions,
    presence,
    endDataflow,
    module: {
      publicPrefixes: [WHIP_PREFIX],
      flowOwner: (id) => presence?.ownerOf(id),
      mount: (app) => {
        app.route("/", whipRoutes({ authenticate, registry: sessions, offers, ownership }));
      },
    },
    close: async () => {
      unsubscribe();
      sessions.close();
      options.ends?.close();
      await replica?.stop();
    },
  };
}

function registerReplicaMetrics(metrics: Metrics, presence: ReplicaPresence, ownership: SessionOwnership): void {
  metrics.counter("vsb_replica_heartbeat_failures_total", "Replica heartbeats the store refused (store down): other replicas may take this one's sessions over after the lapse", (s) => {
    s.set(undefined, presence.counts.heartbeatFailures);
  });
  metrics.counter("vsb_replicas_expired_total", "Rows of dead replicas (heartbeat lapsed) this replica swept", (s) => s.set(undefined, presence.counts.replicasExpired));
  metrics.counter("vsb_whip_owner_conflicts_total", "WHIP pushes refused with 409 because another live replica owns the session", (s) => {
    s.set(undefined, ownership.counts.conflicts);
  });
  metrics.counter("vsb_whip_replica_takeovers_total", "WHIP sessions taken over from a replica whose heartbeat lapsed", (s) => s.set(undefined, ownership.counts.takeovers));
}

function registerMetrics(metrics: Metrics, sessions: SessionRegistry, offers: OfferLimit): void {
  metrics.counter("vsb_whip_rejected_total", "WHIP offers refused before a session, by reason (offer_too_large: 413, over --max-sdp-bytes)", (s) => {
    s.set({ reason: "offer_too_large" }, offers.tooLarge);
  });
  metrics.gauge("vsb_whip_sessions", "WHIP sessions open now", (s) => s.set(undefined, sessions.list().length));
  metrics.counter("vsb_whip_sessions_ended_total", "WHIP sessions ended, by reason", (s) => {
    for (const [reason, n] of Object.entries(sessions.ended)) s.set({ reason }, n);
  });
  metrics.counter("vsb_whip_conflicts_total", "WHIP pushes refused with 409", (s) => s.set(undefined, sessions.conflicts));
  const totals = () => sessions.totals();
  metrics.counter("vsb_whip_rtp_packets_total", "RTP packets received over WHIP", (s) => s.set(undefined, totals().packets));
  metrics.counter("vsb_whip_rtp_bytes_total", "RTP bytes received over WHIP", (s) => s.set(undefined, totals().bytes));
  metrics.counter("vsb_whip_nack_packets_total", "RTCP generic NACK packets sent", (s) => s.set(undefined, totals().nackPackets));
  metrics.counter("vsb_whip_nacked_seqs_total", "Sequence numbers NACKed", (s) => s.set(undefined, totals().nackedSeqs));
  metrics.counter("vsb_whip_plis_total", "PLIs sent (and coalesced)", (s) => {
    const t = totals();
    s.set({ result: "sent" }, t.plisSent);
    s.set({ result: "coalesced" }, t.plisCoalesced);
  });
  metrics.counter("vsb_whip_sink_errors_total", "Packets a session sink threw on", (s) => s.set(undefined, totals().sinkErrors));
}

/**
 * ICE-lite on the announced addresses (DESIGN.md "Media"); full ICE only when STUN/TURN servers
 * are configured, TURN with the credentials of its `--ice-servers` item.
 */
export function iceOptionsOf(config: Pick<Config, "iceAddresses" | "iceServers" | "icePorts">): IngestIceOptions {
  const servers = config.iceServers.map((url) => {
    const server = parseIceServer(url);
    if (typeof server === "string") throw new RangeError(`ICE server "${url.replace(/:[^:@]*@/, ":***@")}": ${server}`);
    return server;
  });
  return {
    addresses: config.iceAddresses.length ? [...config.iceAddresses] : undefined,
    portRange: config.icePorts ? [config.icePorts.first, config.icePorts.last] : undefined,
    lite: servers.length === 0,
    servers,
  };
}

/** The parts of a running proxy the ingest needs (a subset of `RunningProxy`). */
export interface IngestParts {
  /** With both, the process is a replica on the store (heartbeat, session ownership). */
  store?: Pick<DataflowStore, "replicas">;
  publicUrl?: string;
  config: Pick<Config, "iceAddresses" | "iceServers" | "icePorts" | "publishQueueSeconds"> & Partial<Pick<Config, "maxSdpBytes">>;
  registry: Registry;
  announcer: Announcer;
  publisher: Publisher;
  metrics: Metrics;
}

/** Options of {@link whipRoutesFor}; each field documents its default. */
export interface WhipRoutesOptions {
  /** Called with the ingest once it is built. Default: nothing. */
  onIngest?: (ingest: WhipIngest) => void;
  /** The dataflow events heard on the bus: an end the agent announced is not announced again.
   * Default none: every session end is announced at once. */
  heard?: EndsHeard;
  /** How long to wait for the agent's own `terminatedataflow` (with `heard`). Default 1000 ms. */
  endGraceMs?: number;
  /** See {@link WhipIngestOptions.followEnds}. Default true. */
  followEnds?: boolean;
}

/**
 * For `startProxy(config, { routes: whipRoutesFor(makeSinks) })`: the WHIP route module, with
 * `terminatedataflow` published when a session ends on its own (DELETE, ICE failure, media
 * timeout; not on takeover, the stream goes on) and nobody else announced it
 * (proxy/ingest/session_end_announcer.ts); dataflow expiry is announced by the registry's own
 * `ended` event. `makeSinks` chooses the media path (the proxy's is `MediaStreams.sinks`, wired
 * by `mediaRoutesFor()` in proxy/media_routes.ts).
 */
export function whipRoutesFor(makeSinks: (parts: IngestParts) => SinkFactory, options: WhipRoutesOptions = {}) {
  return (parts: IngestParts): RouteModule[] => {
    const ends = new SessionEndAnnouncer({
      announcer: parts.announcer,
      metadataOf: (id) => parts.registry.metadataOf(id),
      heard: options.heard,
      graceMs: options.endGraceMs,
      log: logger("ingest"),
    });
    const ingest = createWhipIngest({
      registry: parts.registry,
      sinks: makeSinks(parts),
      ice: iceOptionsOf(parts.config),
      metrics: parts.metrics,
      offers: new OfferLimit(parts.config.maxSdpBytes),
      ends,
      replica: parts.store && parts.publicUrl ? { rows: parts.store.replicas, publicUrl: parts.publicUrl } : undefined,
      followEnds: options.followEnds,
    });
    options.onIngest?.(ingest);
    return [ingest.module];
  };
}
