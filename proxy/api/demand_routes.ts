/**
 * `POST/GET/PUT/DELETE /demands`: consumers' leases that decide `send`. A consumer lists,
 * reads, renews and ends only the leases it took (403 for another's); an operator all of them.
 */
import type { Context } from "hono";
import { DemandRenewSchema, DemandRequestSchema, PATH, ROUTE } from "../../shared/mod.ts";
import type { Registry } from "../registry/registry.ts";
import type { App, AppDeps } from "./create_app.ts";
import { HttpError } from "./http_error.ts";
import { demandId } from "./params.ts";
import { parseWith, readJson } from "./read_body.ts";
import { identityOf, owns } from "./roles.ts";

/** Lease `id` from the path, 403 unless the caller took it (or is an operator); 404 when it is not live. */
function ownedLease(c: Context, registry: Registry): string {
  const id = demandId(c.req.param("id"));
  const identity = identityOf(c);
  if (!owns(identity, registry.ownerOfDemand(id))) throw new HttpError(403, `demand "${id}" was not taken by "${identity.name}"`);
  return id;
}

/** Mounts the demand routes. */
export function mountDemandRoutes(app: App, { registry, metrics }: AppDeps): void {
  const created = metrics.counter("vsb_demands_created_total", "Demand leases taken").with();

  app.post(ROUTE.demands, async (c) => {
    const request = parseWith(DemandRequestSchema, await readJson(c.req.raw), "demand");
    // A lease on a dataflow id that is not active could never match: say so now.
    if (request.dataflowId !== undefined) registry.requireActive(request.dataflowId);
    const lease = registry.createDemand(request, identityOf(c).name);
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
    return c.json(registry.renewDemand(id, ttlSeconds));
  });

  app.delete(ROUTE.demand, (c) => {
    registry.deleteDemand(ownedLease(c, registry));
    return c.body(null, 204);
  });
}
