/**
 * The proxy's HTTP app (hono, web standards only, so tests drive it with `app.request()`).
 * Other parts of the proxy add their routes through `routes` (WHIP/WHEP, dashboard)
 * without editing this file. Access: one middleware applies the rule of every route
 * (access_policy.ts); modules add rules for their routes or declare public prefixes they
 * check themselves (WHIP: ingest token; WHEP: roles, with CORS on its errors).
 */
import { Hono, type MiddlewareHandler } from "hono";
import { ROUTE } from "../../shared/mod.ts";
import type { Metrics } from "../metrics.ts";
import type { Registry } from "../registry/registry.ts";
import type { ApiToken } from "../config/api_tokens.ts";
import { type AccessRules, CORE_ACCESS, enforceAccess, roleGuard } from "./access_policy.ts";
import { authenticator } from "./auth.ts";
import type { JwtAuthOptions } from "./jwt_auth.ts";
import type { Role } from "../config/role_names.ts";
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
  /** The broker nodes agents are told about, one message-broker entry each. */
  mqttUrls: string[];
  /** True with `--discovery`: the discovery service answers `GET /mec/tile/:quadkey` from the store instead. */
  service?: boolean;
}

/** The app as route modules see it. */
export type App = Hono;

/** What a route module may use when it mounts. */
export interface MountContext {
  registry: Registry;
  metrics: Metrics;
  /** Middleware that authenticates and requires one of `roles` (for routes under a public prefix). */
  requireRoles(roles: readonly Role[]): MiddlewareHandler;
}

/** Routes added by another part of the proxy (e.g. `/whip/*`, `/whep/*`, `/`). */
export interface RouteModule {
  /** Path prefixes that skip API-token auth, e.g. "/whip/" (which checks ingest tokens itself). */
  publicPrefixes?: string[];
  /** Exact paths that skip API-token auth, e.g. "/" (the dashboard page; its API calls carry the token). */
  publicPaths?: string[];
  /** Access rules of its routes (see access_policy.ts); a route without one is the operator's. */
  access?: AccessRules;
  mount(app: App, ctx: MountContext): void;
  /** Live figures of dataflow `id` for `stats` of GET /dataflows (e.g. viewers, bitrateBps, framesPublished). */
  flowStats?(id: number): Record<string, number> | undefined;
  /** The public URL of the replica that owns dataflow `id`'s WHIP session, for `ingestReplica` of GET /dataflows. */
  flowOwner?(id: number): string | undefined;
  /** Called when the proxy stops, before the bus closes (end sessions, flush queues). */
  close?(): void | Promise<void>;
}

/** Dependencies of {@link createApp}. */
export interface AppDeps {
  registry: Registry;
  metrics: Metrics;
  discovery: DiscoveryInfo;
  /** Static API tokens with roles; with none and no `jwt` the API is open (main allows it on loopback only). */
  apiTokens: readonly ApiToken[];
  /** OIDC bearer JWTs. */
  jwt?: JwtAuthOptions;
  /** Active dataflows one sensor identity may hold [16]. */
  maxDataflowsPerSensor?: number;
  /** Live demand leases one client identity may hold [64]; operators are not limited. */
  maxLeasesPerClient?: number;
  /** Live demand leases of all clients together, WHEP viewers' included [10000]. */
  maxLeases?: number;
  /** Named readiness checks for `/ready`, e.g. `{ store: () => store.ping(), bus: () => bus.connected }`. */
  readiness: Record<string, () => boolean>;
  /** Extra route modules, mounted after the registration API. */
  routes?: RouteModule[];
  /** Live figures of a dataflow for its `stats` (set by createApp from the route modules). */
  flowStats?: (id: number) => Record<string, number> | undefined;
  /** The owner of a dataflow's WHIP session (set by createApp from the route modules). */
  flowOwner?: (id: number) => string | undefined;
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
  // Request bodies refused for their size (413), by route pattern: the JSON body limit and SDP offers.
  const tooLarge = deps.metrics.counter("vsb_requests_too_large_total", "Requests refused with 413 because their body was over its limit, by route");
  app.onError((error, c) => {
    if (error instanceof HttpError && error.status === 413) tooLarge.inc({ route: c.req.routePath });
    return errorResponse(error, c);
  });
  app.notFound((c) => errorResponse(new HttpError(404, `route "${c.req.method} ${c.req.path}" does not exist`), c));
  const auth = { tokens: deps.apiTokens, jwt: deps.jwt };
  const authenticate = authenticator(auth);
  const rules: AccessRules = Object.assign({}, CORE_ACCESS, ...(deps.routes ?? []).map((r) => r.access ?? {}));
  app.use("*", enforceAccess({ rules, authenticate, isPublic }));
  mountServiceRoutes(app, deps);
  const owners = (deps.routes ?? []).flatMap((r) => (r.flowOwner ? [r.flowOwner.bind(r)] : []));
  const flowOwner = (id: number) => owners.map((owner) => owner(id)).find((url) => url !== undefined);
  mountDataflowRoutes(app, { ...deps, flowStats: mergedStats(deps.routes ?? []), flowOwner });
  mountDemandRoutes(app, deps);
  const ctx: MountContext = {
    registry: deps.registry, metrics: deps.metrics, requireRoles: (roles) => roleGuard(authenticate, roles),
  };
  for (const module of deps.routes ?? []) module.mount(app, ctx);
  return app;
}
