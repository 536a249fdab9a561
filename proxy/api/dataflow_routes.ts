/**
 * `POST/GET/PUT/DELETE /dataflows`: registration, listing, keep-alive, end (steps 3–6).
 * A sensor keeps alive, updates and deletes only the dataflows it registered (403 otherwise),
 * and holds at most `maxDataflowsPerSensor` active ones (429); an operator is not limited.
 * A registration (or a keep-alive that turns the UDP forward on) that finds every UDP forward
 * port taken is 503, counted by its own reason.
 */
import type { Context } from "hono";
import {
  DATAFLOW_PAGE_MAX, DataflowMetadataSchema, DataflowQuerySchema, type DataflowRecord, PATH, ROUTE,
} from "../../shared/mod.ts";
import type { Registry } from "../registry/registry.ts";
import { CapacityError, NotFoundError } from "../registry/errors.ts";
import type { App, AppDeps } from "./create_app.ts";
import { HttpError } from "./http_error.ts";
import { dataflowId } from "./params.ts";
import { declaresNoBody, parseWith, readJson } from "./read_body.ts";
import { identityOf, owns } from "./roles.ts";

/** Default of `--max-dataflows-per-sensor`. */
export const MAX_DATAFLOWS_PER_SENSOR = 16;

/** 403 unless the caller registered active dataflow `id` (or is an operator); 404 when it is not active. */
async function requireOwner(c: Context, registry: Registry, id: number): Promise<void> {
  const identity = identityOf(c);
  if (identity.roles.has("operator")) return;
  if (!owns(identity, await registry.ownerOf(id))) throw new HttpError(403, `dataflow "${id}" was not registered by "${identity.name}"`);
}

/** Mounts the dataflow routes. */
export function mountDataflowRoutes(app: App, { registry, metrics, flowStats, flowOwner, maxDataflowsPerSensor }: AppDeps): void {
  const limit = maxDataflowsPerSensor ?? MAX_DATAFLOWS_PER_SENSOR;
  const withStats = (record: DataflowRecord): DataflowRecord => {
    const stats = record.active ? flowStats?.(record.id) : undefined;
    const ingestReplica = record.active ? flowOwner?.(record.id) : undefined;
    const out = stats ? { ...record, stats } : record;
    return ingestReplica ? { ...out, ingestReplica } : out;
  };
  const registrations = metrics.counter("vsb_registrations_total", "Dataflows registered").with();
  const keepalives = metrics.counter("vsb_keepalives_total", "Keep-alives answered, by result");
  const keepaliveOk = keepalives.with({ result: "ok" });
  const keepaliveGone = keepalives.with({ result: "not_found" });
  const keepaliveNoPort = keepalives.with({ result: "ports_exhausted" });
  const rejected = metrics.counter("vsb_registrations_rejected_total", "Registrations refused, by reason");
  const overLimit = rejected.with({ reason: "per_sensor_limit" });
  const noPort = rejected.with({ reason: "ports_exhausted" });

  app.post(ROUTE.dataflows, async (c) => {
    const metadata = parseWith(DataflowMetadataSchema, await readJson(c.req.raw), "dataflow metadata");
    const identity = identityOf(c);
    // A registration counts from its call on (before its write resolves): parallel POSTs cannot pass the limit.
    if (!identity.roles.has("operator") && registry.activeCountOf(identity.name) >= limit) {
      overLimit.inc();
      throw new HttpError(429, `"${identity.name}" holds ${limit} active dataflows, the most --max-dataflows-per-sensor allows`);
    }
    let registration;
    try {
      registration = await registry.register(metadata, identity.name);
    } catch (err) {
      if (err instanceof CapacityError) noPort.inc();
      throw err;
    }
    registrations.inc();
    return c.json(registration, 201, { Location: PATH.dataflow(registration.id) });
  });

  // Paged: the newest `limit` (default and most DATAFLOW_PAGE_MAX); a full page links to the
  // next, older one (RFC 8288 Link rel="next", with `before` = the lowest id of this page).
  app.get(ROUTE.dataflows, async (c) => {
    const raw = c.req.query();
    const query = parseWith(DataflowQuerySchema, raw, "query");
    const records = await registry.list(query);
    const headers: Record<string, string> = {};
    if (records.length > 0 && records.length === (query.limit ?? DATAFLOW_PAGE_MAX)) {
      const next = new URLSearchParams({ ...raw, before: String(records[0]!.id) });
      headers.Link = `<${ROUTE.dataflows}?${next}>; rel="next"`;
    }
    return c.json(records.map(withStats), 200, headers);
  });

  app.get(ROUTE.dataflow, async (c) => c.json(withStats(await registry.get(dataflowId(c.req.param("id"))))));

  // The hot path (every sensor, every few seconds): no body in the common case, and the
  // registry answers from memory (its touch is flushed in batches).
  app.put(ROUTE.dataflow, async (c) => {
    const id = dataflowId(c.req.param("id"));
    if (declaresNoBody(c.req.raw)) {
      // Without a promise while the flow is live in memory and the caller owns it; else the
      // path below, which finds the reason (403, 404) or ends an expired flow.
      const identity = identityOf(c);
      const answer = registry.keepaliveLive(id, (owner) => owns(identity, owner));
      if (answer) {
        keepaliveOk.inc();
        return c.json(answer);
      }
    }
    const body = await readJson(c.req.raw, { optional: true });
    const metadata = body === undefined ? undefined : parseWith(DataflowMetadataSchema, body, "dataflow metadata");
    try {
      await requireOwner(c, registry, id);
      const answer = await registry.keepalive(id, metadata);
      keepaliveOk.inc();
      return c.json(answer);
    } catch (err) {
      if (err instanceof NotFoundError) keepaliveGone.inc();
      if (err instanceof CapacityError) keepaliveNoPort.inc();
      throw err;
    }
  });

  app.delete(ROUTE.dataflow, async (c) => {
    const id = dataflowId(c.req.param("id"));
    await requireOwner(c, registry, id);
    await registry.remove(id);
    return c.body(null, 204);
  });
}
