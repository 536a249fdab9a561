// Builds the registration app in memory (no sockets) with a fake clock, for API tests.
import { createApp, type RouteModule } from "../../proxy/api/create_app.ts";
import type { JwtAuthOptions } from "../../proxy/api/jwt_auth.ts";
import { type ApiToken, parseApiToken } from "../../proxy/config/api_tokens.ts";
import { configureLog } from "../../proxy/log.ts";
import { Metrics } from "../../proxy/metrics.ts";
import { Registry, type RegistryEvents } from "../../proxy/registry/registry.ts";
import { Store } from "../../proxy/store/store.ts";
import { sqliteDataflowStore } from "../../proxy/store/store_api.ts";
import { FakeClock } from "./fake_clock.ts";

configureLog({ level: (process.env.VSB_TEST_LOG as "debug" | undefined) ?? "silent" });

/** Options of {@link harness}. */
export interface HarnessOptions {
  db?: string;
  /** Static tokens as `ROLE:TOKEN` (or parsed). */
  tokens?: (string | ApiToken)[];
  jwt?: JwtAuthOptions;
  maxDataflowsPerSensor?: number;
  maxLeasesPerClient?: number;
  maxLeases?: number;
  sendPolicy?: "demand" | "always";
  keepaliveSeconds?: number;
  ports?: { first: number; last: number };
  /** The proxy's `--udp-forward` [requested]. */
  udpForward?: "off" | "requested" | "all";
  routes?: RouteModule[];
  /** `--discovery`: the discovery routes among `routes` answer GET /mec/tile. */
  discoveryService?: boolean;
  clock?: FakeClock;
  busUp?: () => boolean;
}

function apiToken(spec: string | ApiToken): ApiToken {
  if (typeof spec !== "string") return spec;
  const parsed = parseApiToken(spec);
  if (typeof parsed === "string") throw new Error(`test token "${spec}": ${parsed}`);
  return parsed;
}

/** An app with its registry, store (the SQLite one the registry writes through), clock, and a log of registry events. */
export async function harness(options: HarnessOptions = {}) {
  const clock = options.clock ?? new FakeClock();
  const store = new Store(options.db ?? ":memory:", options.ports ?? { first: 5000, last: 5999 });
  const registry = await Registry.open({
    store: sqliteDataflowStore(store), clock, sendPolicy: options.sendPolicy ?? "demand", keepaliveSeconds: options.keepaliveSeconds ?? 5,
    publicUrl: "http://mec.test:8080", udpForwardHost: "127.0.0.1", udpForward: options.udpForward,
  });
  const events: { [K in keyof RegistryEvents]: RegistryEvents[K][] } = { registered: [], send: [], ended: [], state: [], demanded: [] };
  for (const name of Object.keys(events) as (keyof RegistryEvents)[]) {
    registry.on(name, (e) => (events[name] as unknown[]).push(e));
  }
  const metrics = new Metrics();
  const app = createApp({
    registry, metrics, apiTokens: (options.tokens ?? []).map(apiToken), jwt: options.jwt,
    maxDataflowsPerSensor: options.maxDataflowsPerSensor,
    maxLeasesPerClient: options.maxLeasesPerClient,
    maxLeases: options.maxLeases,
    discovery: { mecId: "mec-1", publicUrl: "http://mec.test:8080", mqttUrls: ["mqtt://broker.test:1883"], service: options.discoveryService },
    readiness: { store: () => store.ping(), bus: options.busUp ?? (() => true) },
    routes: options.routes,
  });
  registry.start();
  const json = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  return { app, registry, store, clock, events, metrics, json };
}
