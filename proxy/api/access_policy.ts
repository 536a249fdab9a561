/**
 * Who may call which route: one rule per `METHOD /route/:pattern`, in one table, enforced by
 * one middleware in front of every route. A route without a rule is the operator's alone
 * (fail closed); the route × role test fails for a route without a row, so adding one means
 * deciding here. What a rule cannot say — a sensor's own dataflows, a consumer's own leases —
 * the route checks with {@link owns} after looking the owner up.
 *
 * Routes under a module's public prefix (WHIP: the per-dataflow ingest token; WHEP: checks
 * its roles itself so that its errors carry CORS headers) and its public paths (the
 * dashboard's static pages, whose API calls carry a token) pass without a check here.
 */
import type { MiddlewareHandler } from "hono";
import type { RouterRoute } from "hono/types";
import { matchedRoutes } from "hono/route";
import { ROUTE } from "../../shared/mod.ts";
import type { Authenticate } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import type { Role } from "../config/role_names.ts";
import { type Identity, rolesText } from "./roles.ts";

/** A route's rule: open to all, or the roles that may call it. */
export type Access = "public" | readonly Role[];

/** Rules by `"METHOD /route/:pattern"` (the method as registered: GET also covers HEAD). */
export type AccessRules = Readonly<Record<string, Access>>;

/** The rule of a route without one. */
export const DEFAULT_ACCESS: Access = ["operator"];

const ANY: readonly Role[] = ["sensor", "consumer", "operator"];
const READERS: readonly Role[] = ["consumer", "operator"];
const SENSORS: readonly Role[] = ["sensor", "operator"];

/** The rules of the registration API, discovery and the service routes. */
export const CORE_ACCESS: AccessRules = {
  [`GET ${ROUTE.health}`]: "public",
  [`GET ${ROUTE.ready}`]: "public",
  [`GET ${ROUTE.metrics}`]: ["operator"],
  [`GET ${ROUTE.openapi}`]: ANY,
  [`GET ${ROUTE.mecTile}`]: ANY,
  [`POST ${ROUTE.dataflows}`]: SENSORS,
  [`GET ${ROUTE.dataflows}`]: READERS,
  [`GET ${ROUTE.dataflow}`]: READERS,
  [`PUT ${ROUTE.dataflow}`]: SENSORS, // a sensor only its own (dataflow_routes.ts)
  [`DELETE ${ROUTE.dataflow}`]: SENSORS, // a sensor only its own
  [`POST ${ROUTE.demands}`]: READERS,
  [`GET ${ROUTE.demands}`]: READERS, // a consumer sees its own leases (demand_routes.ts)
  [`GET ${ROUTE.demand}`]: READERS, // a consumer only its own
  [`PUT ${ROUTE.demand}`]: READERS, // a consumer only its own
  [`DELETE ${ROUTE.demand}`]: READERS, // a consumer only its own
};

/** Who may watch over WHEP (checked by the WHEP routes themselves, for CORS on their errors). */
export const WHEP_ACCESS: readonly Role[] = READERS;

const OPERATOR: readonly Role[] = ["operator"];

/** Who may call the discovery routes (`--discovery`: proxy/discovery/discovery_routes.ts). */
export const DISCOVERY_ACCESS: AccessRules = {
  [`GET ${ROUTE.mecTile}`]: ANY,
  [`GET ${ROUTE.mecs}`]: ANY,
  [`GET ${ROUTE.mec}`]: ANY,
  [`POST ${ROUTE.mecs}`]: OPERATOR,
  [`DELETE ${ROUTE.mec}`]: OPERATOR,
  [`POST ${ROUTE.mecServedTile}`]: OPERATOR,
  [`DELETE ${ROUTE.mecServedTile}`]: OPERATOR,
};

/** The key of a route in {@link AccessRules}. */
export function accessKey(method: string, path: string): string {
  return `${method} ${path}`;
}

/** 403 unless `identity` has one of `roles`. */
export function requireRole(identity: Identity, roles: readonly Role[], what: string): void {
  if (!roles.some((r) => identity.roles.has(r))) {
    throw new HttpError(403, `${rolesText(identity)} may not ${what}: it needs ${roles.map((r) => `"${r}"`).join(" or ")}`);
  }
}

/** Options of {@link enforceAccess}. */
export interface AccessOptions {
  rules: AccessRules;
  authenticate: Authenticate;
  /** Paths a module checks itself or that are static pages. */
  isPublic: (path: string) => boolean;
}

/**
 * The middleware: finds the route the request will reach (hono matched every handler up
 * front), applies its rule, and leaves the caller's identity in `c.get("identity")`.
 * A request that matches no route goes on to the JSON 404.
 */
export function enforceAccess(o: AccessOptions): MiddlewareHandler {
  // The rule of each route object hono matched (null: none, the path decides): looked up once.
  const ruled = new WeakMap<RouterRoute, Access | null>();
  return async (c, next) => {
    const routes = matchedRoutes(c);
    let route: RouterRoute | undefined;
    for (let i = routes.length - 1; i >= 0 && !route; i--) if (routes[i]!.method !== "ALL") route = routes[i];
    if (!route) return await next();
    let rule = ruled.get(route);
    if (rule === undefined) ruled.set(route, rule = o.rules[accessKey(route.method, route.path)] ?? null);
    const access = rule ?? (o.isPublic(c.req.path) ? "public" : DEFAULT_ACCESS);
    if (access !== "public") {
      const got = o.authenticate(c);
      const identity = got instanceof Promise ? await got : got;
      requireRole(identity, access, `${route.method} ${route.path}`);
      c.set("identity", identity);
    }
    await next();
  };
}

/** Middleware for a module's own routes (e.g. WHEP): authenticates and requires one of `roles`. */
export function roleGuard(authenticate: Authenticate, roles: readonly Role[]): MiddlewareHandler {
  return async (c, next) => {
    const identity = await authenticate(c);
    requireRole(identity, roles, `${c.req.method} ${c.req.path}`);
    c.set("identity", identity);
    await next();
  };
}
