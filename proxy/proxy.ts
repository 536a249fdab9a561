/**
 * The composition root of vsb-proxy: builds store, bus, registry and HTTP app from a
 * `Config` and starts them, in the order data flows. The server binds first so that an
 * ephemeral port (`--listen 127.0.0.1:0`) is known before the public URL is derived.
 */
import { type App, createApp, type RouteModule } from "./api/create_app.ts";
import { amqpUserOf, Announcer } from "./bus/announcer.ts";
import { BusConnection } from "./bus/bus_connection.ts";
import { ControlSigner } from "./registry/control_signer.ts";
import { Publisher } from "./bus/publisher.ts";
import { type Config, ConfigError, type ListenTls, readListenTls } from "./config/load_config.ts";
import { logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { type DiscoveryRole, discoveryRole } from "./discovery/discovery_role.ts";
import { DataflowEvents } from "./outputs/dataflow_events.ts";
import { type Clock, systemClock } from "./registry/clock.ts";
import { Registry } from "./registry/registry.ts";
import { registerRegistryMetrics } from "./registry/registry_metrics.ts";
import { readText, serve, type Server } from "./runtime.ts";
import { openDataflowStore } from "./store/open_store.ts";
import type { Store } from "./store/store.ts";
import type { DataflowStore } from "./store/store_api.ts";
import { maskUrl } from "../shared/mod.ts";

const log = logger("proxy");

/** The parts of a running proxy, for the media side to hook into and for tests. */
export interface RunningProxy {
  config: Config;
  publicUrl: string;
  server: Server;
  /** The registration store (SQLite, or PostgreSQL with `--db postgres://…`). */
  store: DataflowStore;
  registry: Registry;
  bus: BusConnection;
  publisher: Publisher;
  announcer: Announcer;
  /** newdataflow/terminatedataflow as heard on the bus, whoever sent them. */
  events: DataflowEvents;
  metrics: Metrics;
  /** The discovery routes (`--discovery`) and this MEC's registration at a discovery service. */
  discovery: DiscoveryRole;
  /** The HTTP app (for in-memory requests and its route list in tests). */
  app: App;
  /**
   * Reads --tls-cert/--tls-key again and serves new connections with them (SIGHUP); throws a
   * ConfigError (the old certificate stays) when they are unusable or TLS is off.
   */
  reloadTls(): ListenTls;
  stop(): Promise<void>;
}

/** The base URL sensors reach us at: `--public-url`, else the bound address (0.0.0.0 → 127.0.0.1), https with TLS. */
export function derivePublicUrl(config: Config, port: number): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, "");
  const host = config.listen.host;
  const shown = host === "0.0.0.0" || host === "" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `${config.listenTls ? "https" : "http"}://${shown}:${port}`;
}

/**
 * vsb-proxy could not start; the message is the one line to print and names the option.
 * `exitCode` 2 when a restart cannot help (an unusable `--db`: corrupt, unwritable, full),
 * which the systemd unit does not restart; 1 otherwise.
 */
export class StartError extends Error {
  constructor(message: string, options?: { cause?: unknown; exitCode?: 1 | 2 }) {
    super(message, options);
    this.name = "StartError";
    this.exitCode = options?.exitCode ?? 1;
  }

  readonly exitCode: 1 | 2;
}

function firstLine(cause: unknown): string {
  return ((cause as Error).message ?? String(cause)).split("\n")[0]!;
}

/** Options of {@link startProxy}. */
export interface StartOptions {
  clock?: Clock;
  /** Route modules of the media side (WHIP/WHEP, dashboard), given the running parts. */
  routes?: (parts: Omit<RunningProxy, "stop" | "server" | "app" | "reloadTls" | "discovery">) => RouteModule[];
  /** Opens a SQLite `--db` [new Store(path, ports)]; tests give a Store subclass whose writes fail. */
  openStore?: (path: string, ports: Config["udpPorts"]) => Store;
}

/** Starts vsb-proxy with `config`. */
export async function startProxy(config: Config, options: StartOptions = {}): Promise<RunningProxy> {
  const db = maskUrl(config.db);
  let store: DataflowStore;
  try {
    store = await openDataflowStore(config.db, config.udpPorts, { password: config.dbPassword, openSqlite: options.openStore });
  } catch (cause) {
    throw new StartError(`--db "${db}": the store could not be opened: ${firstLine(cause)}`, { cause, exitCode: 2 });
  }
  let handler: (request: Request) => Response | Promise<Response> = () =>
    new Response(JSON.stringify({ error: "starting" }), { status: 503, headers: { "content-type": "application/json" } });
  const listen = `${config.listen.host}:${config.listen.port}`;
  let server: Server;
  try {
    server = serve({ hostname: config.listen.host, port: config.listen.port, tls: config.listenTls, fetch: (req) => handler(req) });
  } catch (cause) {
    await store.close();
    throw new StartError(`--listen "${listen}": could not listen: ${(cause as Error).message}`, { cause });
  }
  const publicUrl = derivePublicUrl(config, server.port);
  const metrics = new Metrics();
  const bus = new BusConnection({ urls: config.amqpUrls, tls: config.amqpTls, caFile: config.amqpCaFile });
  const publisher = new Publisher(bus, { metrics });
  // Broker-validated user-id on events and control: pipelines can tell the proxy's from an agent's.
  // One signer: the registry's replay floors (answers) and the announcer's seqs are one sequence.
  const signer = new ControlSigner();
  const announcer = new Announcer(publisher, { userId: amqpUserOf(config.amqpUrl), signer });
  let registry: Registry;
  try {
    registry = await Registry.open({
      controlSeq: () => signer.nextSeq(), store, clock: options.clock ?? systemClock, sendPolicy: config.sendPolicy,
      keepaliveSeconds: config.keepaliveSeconds, publicUrl, udpForwardHost: config.udpForwardHost, udpForward: config.udpForward,
      endedRetentionMs: config.endedRetention,
    });
  } catch (cause) {
    await server.stop();
    await store.close();
    throw new StartError(`--db "${db}": the store could not be read: ${firstLine(cause)}`, { cause, exitCode: 2 });
  }
  const events = new DataflowEvents(bus, logger("events"));
  const unfollow = announcer.follow(registry, { heard: events });
  registerRegistryMetrics(registry, metrics);
  const parts = { config, publicUrl, store, registry, bus, publisher, announcer, events, metrics };
  const discovery = discoveryRole(config, store, metrics);
  const routes = [...discovery.routes, ...options.routes?.(parts) ?? []];
  const jwtLog = logger("auth");
  const jwt = config.jwksUrl && config.jwtIssuer && config.jwtAudience
    ? {
      jwksUrl: config.jwksUrl, issuer: config.jwtIssuer, audience: config.jwtAudience, roleClaim: config.jwtRoleClaim,
      onFetchError: (error: unknown) => jwtLog.warn("jwks fetch failed", { jwksUrl: config.jwksUrl, error }),
    }
    : undefined;
  const app = createApp({
    registry, metrics, apiTokens: config.apiTokens, jwt, maxDataflowsPerSensor: config.maxDataflowsPerSensor,
    maxLeasesPerClient: config.maxLeasesPerClient, maxLeases: config.maxLeases,
    discovery: { mecId: config.mecId, publicUrl, mqttUrls: config.mqttUrls, service: config.discovery },
    // The store is ready while its last write succeeded (a full or read-only disk says 503 here).
    readiness: { store: () => registry.storeHealthy, bus: () => bus.connected },
    routes,
  });
  handler = app.fetch;
  registry.start();
  bus.start();
  discovery.start({ mecId: config.mecId, publicUrl, mqttUrls: config.mqttUrls });
  if (config.apiTokens.length === 0 && !jwt) log.warn("api opened without auth", { hint: "set --api-token ROLE:TOKEN, --api-token-file or --jwks-url" });
  if (config.listenTls && config.publicUrl?.startsWith("http:")) {
    log.warn("public url is http but the listener serves https", { publicUrl, hint: "sensors would fail to reach the whipUrl; use https:// in --public-url" });
  }
  if (!config.publicUrl && config.listen.host === "0.0.0.0") {
    log.warn("public url derived from loopback", { publicUrl, hint: "set --public-url so remote sensors get a reachable whipUrl" });
  }
  log.info("proxy started", {
    listen: `${server.hostname}:${server.port}`, publicUrl, db, store: store.kind, sendPolicy: config.sendPolicy,
    tls: config.listenTls ? { subject: config.listenTls.subject, validTo: config.listenTls.validTo } : undefined,
    auth: { tokens: config.apiTokens.map((t) => `${t.role}:${t.name}`), oidc: jwt ? { jwksUrl: jwt.jwksUrl, issuer: jwt.issuer } : undefined },
  });
  const reloadTls = (): ListenTls => {
    const tls = readListenTls(config, readText);
    if (!tls || !server.tls) throw new ConfigError("no --tls-cert/--tls-key: the listener serves plain HTTP, nothing to reload");
    server.reloadTls(tls);
    return tls;
  };
  const stop = async () => {
    await discovery.stop(); // while the server still answers: it may be its own discovery service
    await server.stop();
    for (const module of routes) {
      await Promise.resolve(module.close?.()).catch((error) => log.error("route module close failed", { error }));
    }
    await registry.stop();
    unfollow(); // ends still waiting for the agent's announcement are decided now
    await events.close(); // its queue is deleted: nobody will consume it again
    // Give queued events (terminatedataflow, control) a moment to reach the broker.
    for (let i = 0; i < 20 && bus.connected && (publisher.inFlight > 0 || publisher.stats().some((s) => s.depth > 0)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await bus.stop();
    await store.close();
    log.info("proxy stopped");
  };
  return { ...parts, discovery, server, app, reloadTls, stop };
}
