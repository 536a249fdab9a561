/** `POST/GET/PUT/DELETE /dataflows`: registration, listing, keep-alive, end (steps 3–6). */
import {
  DATAFLOW_PAGE_MAX, DataflowMetadataSchema, DataflowQuerySchema, type DataflowRecord, PATH, ROUTE,
} from "../../shared/mod.ts";
import type { App, AppDeps } from "./create_app.ts";
import { dataflowId } from "./params.ts";
import { parseWith, readJson } from "./read_body.ts";

/** Mounts the dataflow routes. */
export function mountDataflowRoutes(app: App, { registry, metrics, flowStats }: AppDeps): void {
  const withStats = (record: DataflowRecord): DataflowRecord => {
    const stats = record.active ? flowStats?.(record.id) : undefined;
    return stats ? { ...record, stats } : record;
  };
  const registrations = metrics.counter("vsb_registrations_total", "Dataflows registered").with();
  const keepalives = metrics.counter("vsb_keepalives_total", "Keep-alives answered, by result");
  const keepaliveOk = keepalives.with({ result: "ok" });
  const keepaliveGone = keepalives.with({ result: "not_found" });

  app.post(ROUTE.dataflows, async (c) => {
    const metadata = parseWith(DataflowMetadataSchema, await readJson(c.req.raw), "dataflow metadata");
    const registration = registry.register(metadata);
    registrations.inc();
    return c.json(registration, 201, { Location: PATH.dataflow(registration.id) });
  });

  // Paged: the newest `limit` (default and most DATAFLOW_PAGE_MAX); a full page links to the
  // next, older one (RFC 8288 Link rel="next", with `before` = the lowest id of this page).
  app.get(ROUTE.dataflows, (c) => {
    const raw = c.req.query();
    const query = parseWith(DataflowQuerySchema, raw, "query");
    const records = registry.list(query);
    const headers: Record<string, string> = {};
    if (records.length > 0 && records.length === (query.limit ?? DATAFLOW_PAGE_MAX)) {
      const next = new URLSearchParams({ ...raw, before: String(records[0]!.id) });
      headers.Link = `<${ROUTE.dataflows}?${next}>; rel="next"`;
    }
    return c.json(records.map(withStats), 200, headers);
  });

  app.get(ROUTE.dataflow, (c) => c.json(withStats(registry.get(dataflowId(c.req.param("id"))))));

  // The hot path (every sensor, every few seconds): no body in the common case, and the
  // registry answers from memory.
  app.put(ROUTE.dataflow, async (c) => {
    const id = dataflowId(c.req.param("id"));
    const body = await readJson(c.req.raw, { optional: true });
    const metadata = body === undefined ? undefined : parseWith(DataflowMetadataSchema, body, "dataflow metadata");
    try {
      const answer = registry.keepalive(id, metadata);
      keepaliveOk.inc();
      return c.json(answer);
    } catch (err) {
      keepaliveGone.inc();
      throw err;
    }
  });

  app.delete(ROUTE.dataflow, (c) => {
    registry.remove(dataflowId(c.req.param("id")));
    return c.body(null, 204);
  });
}
