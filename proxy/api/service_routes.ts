/** `/health`, `/ready`, `/metrics`, `/openapi.json` and the local discovery endpoint (without `--discovery`). */
import { QuadkeySchema, ROUTE } from "../../shared/mod.ts";
import { METRICS_CONTENT_TYPE } from "../metrics.ts";
import type { App, AppDeps } from "./create_app.ts";
import { discoveryAnswer } from "./discovery.ts";
import { openapiDocument } from "./openapi.ts";
import { parseWith } from "./read_body.ts";

/** Mounts the service routes. */
export function mountServiceRoutes(app: App, deps: AppDeps): void {
  let openapi: string | undefined;

  // Liveness only: answers while the event loop runs, whatever RabbitMQ does.
  app.get(ROUTE.health, (c) => c.json({ status: "ok" }));

  app.get(ROUTE.ready, (c) => {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(deps.readiness)) {
      try {
        checks[name] = check();
      } catch {
        checks[name] = false;
      }
    }
    const ready = Object.values(checks).every(Boolean);
    return c.json({ ready, checks }, ready ? 200 : 503);
  });

  app.get(ROUTE.metrics, (c) => c.body(deps.metrics.render(), 200, { "Content-Type": METRICS_CONTENT_TYPE }));

  app.get(ROUTE.openapi, (c) => {
    openapi ??= JSON.stringify(openapiDocument(deps.discovery.publicUrl));
    return c.body(openapi, 200, { "Content-Type": "application/json" });
  });

  // This MEC alone; with --discovery the discovery routes (proxy/discovery/) answer instead.
  if (deps.discovery.service) return;
  app.get(ROUTE.mecTile, (c) => {
    parseWith(QuadkeySchema, c.req.param("quadkey"), "quadkey");
    return c.json(discoveryAnswer(deps.discovery));
  });
}
