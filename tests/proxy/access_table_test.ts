// Route × role × expected status over every route of the real proxy's app (startProxy with
// the media routes and the dashboard, as main runs it), driven in memory with app.request().
// The routes come from the app itself: a route without a row here, or a row without a route,
// fails the test, so a new route cannot ship without deciding who may call it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dashboardRoutes } from "../../proxy/dashboard/dashboard_routes.ts";
import { tokenName } from "../../proxy/config/api_tokens.ts";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { mediaRoutesFor } from "../../proxy/media_routes.ts";
import { type RunningProxy, startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";
import { DataflowMetadataSchema, SDP_CONTENT_TYPE } from "../../shared/mod.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/temp_dir.ts";
import "./harness.ts"; // quiet logs
import { NotFoundError } from "../../proxy/registry/errors.ts";
import { agentBody } from "./sensor_body.ts";

/** Who calls: no header, a wrong token, two sensors, two consumers, an operator. */
const CALLERS = ["none", "bad", "sensorA", "sensorB", "consumerA", "consumerB", "operator"] as const;
type Caller = (typeof CALLERS)[number];
const TOKENS: Record<Exclude<Caller, "none">, string> = {
  bad: "not-a-configured-token-0",
  sensorA: "sensor-a-token-0123456789",
  sensorB: "sensor-b-token-0123456789",
  consumerA: "consumer-a-token-012345678",
  consumerB: "consumer-b-token-012345678",
  operator: "operator-token-0123456789",
};
const ARGS = [
  "--api-token", `sensor:${TOKENS.sensorA}`, "--api-token", `sensor:${TOKENS.sensorB}`,
  "--api-token", `consumer:${TOKENS.consumerA}`, "--api-token", `consumer:${TOKENS.consumerB}`,
  "--api-token", `operator:${TOKENS.operator}`,
];

/** Expected status per caller, in CALLERS order. */
type Row = readonly [none: number, bad: number, sensorA: number, sensorB: number, consumerA: number, consumerB: number, operator: number];
const all = (status: number): Row => [status, status, status, status, status, status, status];

// Fixtures made fresh for every request: dataflow `:id` registered by sensorA, lease `:id` taken
// by consumerA (so DELETE rows do not depend on the order they run in).
const TABLE: Record<string, Row> = {
  "GET /health": all(200),
  "GET /ready": all(503), // public; 503 because no broker listens in this test
  "GET /metrics": [401, 401, 403, 403, 403, 403, 200],
  "GET /openapi.json": [401, 401, 200, 200, 200, 200, 200],
  // Discovery (--discovery is on here): every role reads, the operator writes; `:mecId` is a MEC serving 0313.
  "GET /mec/tile/:quadkey": [401, 401, 200, 200, 200, 200, 200],
  "GET /mec": [401, 401, 200, 200, 200, 200, 200],
  "GET /mec/:mecId": [401, 401, 200, 200, 200, 200, 200],
  "POST /mec": [401, 401, 403, 403, 403, 403, 200],
  "DELETE /mec/:mecId": [401, 401, 403, 403, 403, 403, 200],
  "POST /mec/:mecId/tile/:tile": [401, 401, 403, 403, 403, 403, 200],
  "DELETE /mec/:mecId/tile/:tile": [401, 401, 403, 403, 403, 403, 200],
  "POST /dataflows": [401, 401, 201, 201, 403, 403, 201],
  "GET /dataflows": [401, 401, 403, 403, 200, 200, 200],
  "GET /dataflows/:id": [401, 401, 403, 403, 200, 200, 200],
  "PUT /dataflows/:id": [401, 401, 200, 403, 403, 403, 200],
  "DELETE /dataflows/:id": [401, 401, 204, 403, 403, 403, 204],
  "POST /demands": [401, 401, 403, 403, 201, 201, 201],
  "GET /demands": [401, 401, 403, 403, 200, 200, 200],
  "GET /demands/:id": [401, 401, 403, 403, 200, 403, 200],
  "PUT /demands/:id": [401, 401, 403, 403, 200, 403, 200],
  "DELETE /demands/:id": [401, 401, 403, 403, 204, 403, 204],
  // WHIP takes the dataflow's ingest token, never an API token, whatever its role.
  "POST /whip/:id": all(401),
  "DELETE /whip/:id/:session": all(401),
  "PATCH /whip/:id/:session": all(405),
  "OPTIONS /whip/:id": all(204),
  "OPTIONS /whip/:id/:session": all(204),
  // WHEP: consumers and operators watch (503: registered, not live yet).
  "POST /whep/:id": [401, 401, 403, 403, 503, 503, 503],
  "DELETE /whep/:id/:session": [401, 401, 403, 403, 404, 404, 404],
  "PATCH /whep/:id/:session": all(405),
  "OPTIONS /whep/:id": all(204),
  "OPTIONS /whep/:id/:session": all(204),
  // The static pages; their API calls carry a token.
  "GET /": all(200),
  "GET /camera": all(200),
};

let proxy: RunningProxy;
const dir = tempDir("vsb-access-");
const metadata = DataflowMetadataSchema.parse(agentBody());
const MEC = { name: "mec-1", sb_services: [{ service_name: "registration-api", ip: "127.0.0.1", port: "8080" }], geolocation: [{ "tile-id": "0313" }] };

beforeAll(async () => {
  const amqp = `amqp://guest:guest@127.0.0.1:${await freePort()}`; // nothing listens: the API serves anyway
  const config = loadConfig(["--listen", "127.0.0.1:0", "--db", `${dir.path}/p.db`, "--amqp-url", amqp, "--ice-address", "127.0.0.1", "--discovery", ...ARGS], {}, readText);
  if (config.kind !== "run") throw new Error("expected a run config");
  proxy = await startProxy(config.config, { routes: (parts) => [...mediaRoutesFor()(parts), dashboardRoutes()] });
});
afterAll(async () => {
  await proxy?.stop();
  dir.remove();
});

function appRoutes(): string[] {
  return [...new Set(proxy.app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`))].sort();
}

function body(key: string): { headers: Record<string, string>; body?: string } {
  if (key === "POST /dataflows" || key === "PUT /dataflows/:id") return { headers: { "content-type": "application/json" }, body: JSON.stringify(agentBody()) };
  if (key === "POST /demands") return { headers: { "content-type": "application/json" }, body: JSON.stringify({ dataType: "video", ttlSeconds: 30 }) };
  if (key === "POST /mec") return { headers: { "content-type": "application/json" }, body: JSON.stringify(MEC) };
  if (key === "PUT /demands/:id") return { headers: { "content-type": "application/json" }, body: JSON.stringify({ ttlSeconds: 30 }) };
  if (key.startsWith("POST /wh")) return { headers: { "content-type": SDP_CONTENT_TYPE }, body: "v=0\r\n" };
  return { headers: {} };
}

/** The owner name the proxy records for a static token without a NAME. */
const ownerOf = (caller: "sensorA" | "sensorB" | "consumerA") => `token:${tokenName(TOKENS[caller])}`;

async function call(key: string, caller: Caller): Promise<Response> {
  const [method, route] = key.split(" ") as [string, string];
  const flow = await proxy.registry.register(metadata, ownerOf("sensorA"));
  const lease = await proxy.registry.createDemand({ dataflowId: flow.id, ttlSeconds: 60 }, ownerOf("consumerA"));
  const id = route.startsWith("/demands/") ? lease.id : String(flow.id);
  // A MEC with tile 0313 exists for every request (re-registered by name: the same id until a DELETE).
  const mec = await proxy.app.request("/mec", { method: "POST", headers: { authorization: `Bearer ${TOKENS.operator}`, "content-type": "application/json" }, body: JSON.stringify(MEC) });
  const { mec_id: mecId } = await mec.json() as { mec_id: string };
  const path = route.replace(":id", id).replace(":quadkey", "0").replace(":session", "x").replace(":mecId", mecId).replace(":tile", "0313");
  const { headers, body: payload } = body(key);
  if (caller !== "none") headers.authorization = `Bearer ${TOKENS[caller]}`;
  const res = await proxy.app.request(path, { method, headers, body: payload });
  // Remove the fixtures (and what a POST made) so no sensor reaches its dataflow limit.
  for (const d of await proxy.registry.list({ active: true })) await proxy.registry.remove(d.id);
  // A WHEP viewer's lease is released in the background when its dataflow ends: it may be gone already.
  for (const l of proxy.registry.listDemands()) {
    await proxy.registry.deleteDemand(l.id).catch((error) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  }
  return res;
}

describe("access: route × role × status", () => {
  test("the table has one row per route of the app, and no row without a route", async () => {
    expect(Object.keys(TABLE).sort()).toEqual(appRoutes());
  });

  for (const [key, row] of Object.entries(TABLE)) {
    test(`${key}: ${CALLERS.map((c, i) => `${c} ${row[i]}`).join(", ")}`, async () => {
      const got: number[] = [];
      for (const caller of CALLERS) {
        const res = await call(key, caller);
        got.push(res.status);
        if (res.status === 401 || res.status === 403) {
          const text = await res.text();
          expect(text).not.toContain("\n");
          expect(typeof JSON.parse(text).error).toBe("string");
        } else await res.body?.cancel();
      }
      expect(got).toEqual([...row]);
    });
  }

  test("a sensor holds its own dataflows only: another sensor's keep-alive and delete are refused and change nothing", async () => {
    const auth = (caller: Caller) => ({ authorization: `Bearer ${TOKENS[caller as "sensorA"]}`, "content-type": "application/json" });
    const res = await proxy.app.request("/dataflows", { method: "POST", headers: auth("sensorA"), body: JSON.stringify(agentBody()) });
    const { id } = await res.json() as { id: number };
    const put = await proxy.app.request(`/dataflows/${id}`, { method: "PUT", headers: auth("sensorB") });
    expect(put.status).toBe(403);
    expect((await put.json()).error).toBe(`dataflow "${id}" was not registered by "${ownerOf("sensorB")}"`);
    expect((await proxy.app.request(`/dataflows/${id}`, { method: "DELETE", headers: auth("sensorB") })).status).toBe(403);
    expect((await proxy.registry.get(id)).active).toBe(true);
    expect((await proxy.app.request(`/dataflows/${id}`, { method: "DELETE", headers: auth("sensorA") })).status).toBe(204);
    expect((await proxy.registry.get(id)).active).toBe(false);
  });

  test("a consumer lists only its own leases; the operator lists all", async () => {
    const list = async (caller: Caller) =>
      (await (await proxy.app.request("/demands", { headers: { authorization: `Bearer ${TOKENS[caller as "operator"]}` } })).json()) as { id: string }[];
    const mine = await proxy.registry.createDemand({ dataType: "video", ttlSeconds: 60 }, "token:someone-else");
    expect((await list("consumerB")).map((l) => l.id)).not.toContain(mine.id);
    expect((await list("operator")).map((l) => l.id)).toContain(mine.id);
  });
});
