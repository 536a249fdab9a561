/**
 * The proxy's HTTP app (hono, web standards only, so tests drive it with `app.request()`).
 * Other parts of the proxy add their routes through `routes` (WHIP/WHEP, dashboard)
 * without editing this file; API-token auth covers every route except `/health`,
 * `/ready` and the prefixes a module declares public (WHIP checks its own ingest token).
 */
import { Hono, type MiddlewareHandler } from "hono";
import { ROUTE } from "../../shared/mod.ts";
import type { Metrics } from "../metrics.ts";
import type { Registry } from "../registry/registry.ts";
import { requireApiToken } from "./auth.ts";
import { mountDataflowRoutes } from "./dataflow_routes.ts";
import { mountDemandRoutes } from "./demand_routes.ts";
import { errorResponse, HttpError } from "./http_error.ts";
import { mountServiceRoutes } from "./service_routes.ts";

/** What this MEC advertises in discovery answers. */
export interface DiscoveryInfo {
  mecId: string;
  /** Base URL of this proxy (registration API and WHIP). */
  publicUrl: string;
  /** The message broker agents speak MQTT to. */
  mqttUrl: string;
}

/** The app as route modules see it. */
export type App = Hono;

/** What a route module may use when it mounts. */
export interface MountContext {
  registry: Registry;
  metrics: Metrics;
  /** Middleware that checks the API token (for routes under a public prefix that still want it). */
  requireApiToken: MiddlewareHandler;
}

/** Routes added by another part of the proxy (e.g. `/whip/*`, `/whep/*`, `/`). */
export interface RouteModule {
  /** Path prefixes that skip API-token auth, e.g. "/whip/" (which checks ingest tokens itself). */
  publicPrefixes?: string[];
  /** Exact paths that skip API-token auth, e.g. "/" (the dashboard page; its API calls carry the token). */
  publicPaths?: string[];
  mount(app: App, ctx: MountContext): void;
  /** Live figures of dataflow `id` for `stats` of GET /dataflows (e.g. viewers, bitrateBps, framesPublished). */
  flowStats?(id: number): Record<string, number> | undefined;
  /** Called when the proxy stops, before the bus closes (end sessions, flush queues). */
  close?(): void | Promise<void>;
}

/** Dependencies of {@link createApp}. */
export interface AppDeps {
  registry: Registry;
  metrics: Metrics;
  discovery: DiscoveryInfo;
  /** API tokens; empty means the API is open (main logs a warning). */
  apiTokens: readonly string[];
  /** Named readiness checks for `/ready`, e.g. `{ store: () => store.ping(), bus: () => bus.connected }`. */
  readiness: Record<string, () => boolean>;
  /** Extra route modules, mounted after the registration API. */
  routes?: RouteModule[];
  /** Live figures of a dataflow for its `stats` (set by createApp from the route modules). */
  flowStats?: (id: number) => Record<string, number> | undefined;
}

/** The `stats` of a dataflow: every module's figures merged (undefined when none has any). */
function mergedStats(routes: RouteModule[]): (id: number) => Record<string, number> | undefined {
  const providers = routes.flatMap((r) => (r.flowStats ? [r.flowStats.bind(r)] : []));
  return (id) => {
    let out: Record<string, number> | undefined;
    for (const stats of providers) {
      const figures = stats(id);
      if (figures) out = { ...out, ...figures };
    }
    return out;
  };
}

/** Builds the app. */
export function createApp(deps: AppDeps): App {
  const app = new Hono();
  const publicPaths = new Set<string>([ROUTE.health, ROUTE.ready, ...(deps.routes ?? []).flatMap((r) => r.publicPaths ?? [])]);
  const publicPrefixes = (deps.routes ?? []).flatMap((r) => r.publicPrefixes ?? []);
  const isPublic = (path: string) => publicPaths.has(path) || publicPrefixes.some((p) => path.startsWith(p));
  app.onError(errorResponse);
  app.notFound((c) => errorResponse(new HttpError(404, `route "${c.req.method} ${c.req.path}" does not exist`), c));
  app.use("*", requireApiToken(deps.apiTokens, isPublic));
  mountServiceRoutes(app, deps);
  mountDataflowRoutes(app, { ...deps, flowStats: mergedStats(deps.routes ?? []) });
  mountDemandRoutes(app, deps);
  const ctx: MountContext = { registry: deps.registry, metrics: deps.metrics, requireApiToken: requireApiToken(deps.apiTokens) };
  for (const module of deps.routes ?? []) module.mount(app, ctx);
  return app;
}
