/**
 * `POST/GET/PUT/DELETE /demands`: consumers' leases that decide `send`. A consumer lists,
 * reads, renews and ends only the leases it took (403 for another's); an operator all of them.
 * A client holds at most `maxLeasesPerClient` live leases (operators are not limited), and all
 * together at most `maxLeases` (WHEP viewers' leases included); one more is 429.
 */
import type { Context } from "hono";
import { DemandRenewSchema, DemandRequestSchema, PATH, ROUTE } from "../../shared/mod.ts";
import type { Registry } from "../registry/registry.ts";
import type { App, AppDeps } from "./create_app.ts";
import { HttpError } from "./http_error.ts";
import { demandId } from "./params.ts";
import { parseWith, readJson } from "./read_body.ts";
import { identityOf, owns } from "./roles.ts";

/** Default of `--max-leases-per-client`. */
export const MAX_LEASES_PER_CLIENT = 64;
/** Default of `--max-leases`. */
export const MAX_LEASES = 10_000;

/** Lease `id` from the path, 403 unless the caller took it (or is an operator); 404 when it is not live. */
function ownedLease(c: Context, registry: Registry): string {
  const id = demandId(c.req.param("id"));
  const identity = identityOf(c);
  if (!owns(identity, registry.ownerOfDemand(id))) throw new HttpError(403, `demand "${id}" was not taken by "${identity.name}"`);
  return id;
}

/** Mounts the demand routes. */
export function mountDemandRoutes(app: App, { registry, metrics, maxLeasesPerClient, maxLeases }: AppDeps): void {
  const perClient = maxLeasesPerClient ?? MAX_LEASES_PER_CLIENT;
  const total = maxLeases ?? MAX_LEASES;
  const created = metrics.counter("vsb_demands_created_total", "Demand leases taken").with();
  const rejected = metrics.counter("vsb_leases_rejected_total", "Demand leases refused with 429, by reason");
  const overClient = rejected.with({ reason: "per_client_limit" });
  const overTotal = rejected.with({ reason: "total_limit" });

  app.post(ROUTE.demands, async (c) => {
    const request = parseWith(DemandRequestSchema, await readJson(c.req.raw), "demand");
    // A lease on a dataflow id that is not active could never match: say so now.
    if (request.dataflowId !== undefined) await registry.requireActive(request.dataflowId);
    const identity = identityOf(c);
    // No await between the counts and the lease's call (it counts from then on): parallel POSTs cannot pass the limits.
    if (registry.demandCount() >= total) {
      overTotal.inc();
      throw new HttpError(429, `the proxy holds ${total} demand leases, the most --max-leases allows`);
    }
    if (!identity.roles.has("operator") && registry.demandCount(identity.name) >= perClient) {
      overClient.inc();
      throw new HttpError(429, `"${identity.name}" holds ${perClient} demand leases, the most --max-leases-per-client allows`);
    }
    const lease = await registry.createDemand(request, identity.name);
    created.inc();
    return c.json(lease, 201, { Location: PATH.demand(lease.id) });
  });

  app.get(ROUTE.demands, (c) => {
    const identity = identityOf(c);
    return c.json(registry.listDemands(identity.roles.has("operator") ? undefined : identity.name));
  });

  app.get(ROUTE.demand, (c) => c.json(registry.getDemand(ownedLease(c, registry))));

  app.put(ROUTE.demand, async (c) => {
    const id = ownedLease(c, registry);
    const body = await readJson(c.req.raw, { optional: true });
    const { ttlSeconds } = parseWith(DemandRenewSchema, body ?? {}, "demand renewal");
    return c.json(await registry.renewDemand(id, ttlSeconds));
  });

  app.delete(ROUTE.demand, async (c) => {
    await registry.deleteDemand(ownedLease(c, registry));
    return c.body(null, 204);
  });
}
