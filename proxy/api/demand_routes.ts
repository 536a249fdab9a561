/** `POST/GET/PUT/DELETE /demands`: consumers' leases that decide `send`. */
import { DemandRenewSchema, DemandRequestSchema, PATH, ROUTE } from "../../shared/mod.ts";
import type { App, AppDeps } from "./create_app.ts";
import { demandId } from "./params.ts";
import { parseWith, readJson } from "./read_body.ts";

/** Mounts the demand routes. */
export function mountDemandRoutes(app: App, { registry, metrics }: AppDeps): void {
  const created = metrics.counter("vsb_demands_created_total", "Demand leases taken").with();

  app.post(ROUTE.demands, async (c) => {
    const request = parseWith(DemandRequestSchema, await readJson(c.req.raw), "demand");
    // A lease on a dataflow id that is not active could never match: say so now.
    if (request.dataflowId !== undefined) registry.requireActive(request.dataflowId);
    const lease = registry.createDemand(request);
    created.inc();
    return c.json(lease, 201, { Location: PATH.demand(lease.id) });
  });

  app.get(ROUTE.demands, (c) => c.json(registry.listDemands()));

  app.get(ROUTE.demand, (c) => c.json(registry.getDemand(demandId(c.req.param("id")))));

  app.put(ROUTE.demand, async (c) => {
    const id = demandId(c.req.param("id"));
    const body = await readJson(c.req.raw, { optional: true });
    const { ttlSeconds } = parseWith(DemandRenewSchema, body ?? {}, "demand renewal");
    return c.json(registry.renewDemand(id, ttlSeconds));
  });

  app.delete(ROUTE.demand, (c) => {
    registry.deleteDemand(demandId(c.req.param("id")));
    return c.body(null, 204);
  });
}
