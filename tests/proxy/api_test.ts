import { describe, expect, test } from "bun:test";
import { DiscoverySchema, KeepaliveSchema, PATH, RegistrationSchema, ROUTE } from "../../shared/mod.ts";
import { discoverEndpoints } from "../../agent/discovery/discover_endpoints.ts";
import { harness } from "./harness.ts";
import { agentBody, sensor2022 } from "./sensor_body.ts";

describe("POST /dataflows", () => {
  test("accepts a 2022 5GMETA body and answers id, topic (5GMETA's: the lower-case dataType), routingKey, send, ingest", async () => {
    const { json } = await harness();
    const res = await json("POST", "/dataflows", sensor2022());
    expect(res.status).toBe(201);
    const body = RegistrationSchema.parse(await res.json());
    expect(body).toMatchObject({ id: 1, topic: "video", routingKey: "video.h264.1", send: false, keepaliveSeconds: 5, udpForward: null });
    expect(body.ingest.whipUrl).toBe("http://mec.test:8080/whip/1");
    expect(body.ingest.token.length).toBeGreaterThanOrEqual(32);
    expect(res.headers.get("location")).toBe(PATH.dataflow(1));
  });

  test("stores both time field names and the typed videoInfo", async () => {
    const { json } = await harness();
    await json("POST", "/dataflows", sensor2022());
    await json("POST", "/dataflows", { ...agentBody(), udpForward: true });
    const one = await (await json("GET", "/dataflows/1")).json();
    expect(one).toMatchObject({ topic: "video", routingKey: "video.h264.1", udpForward: null });
    expect(one.metadata.dataSourceInfo).toMatchObject({ sourceTimezone: 2, timeZone: 2, timeStratumLevel: 1 });
    const two = await (await json("GET", "/dataflows/2")).json();
    expect(two.metadata.videoInfo).toMatchObject({ width: 640, source: "test" });
    expect(two.udpForward).toEqual({ host: "127.0.0.1", port: 5000 });
  });

  test("rejects schema violations with 400 and the zod paths", async () => {
    const { json } = await harness();
    const body = sensor2022() as any;
    body.dataSourceInfo.sourceLocationInfo.locationLatitude = 123;
    delete body.dataTypeInfo;
    const res = await json("POST", "/dataflows", body);
    expect(res.status).toBe(400);
    const err = await res.json();
    const paths = err.details.map((d: { path: string }) => d.path);
    expect(paths).toContain("dataSourceInfo.sourceLocationInfo.locationLatitude");
    expect(paths).toContain("dataTypeInfo");
  });

  test("malformed JSON is 400, wrong content type 415, over 64 KiB 413", async () => {
    const { json, app, metrics } = await harness();
    expect((await json("POST", "/dataflows", "{not json")).status).toBe(400);
    expect((await app.request("/dataflows", { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify(sensor2022()) })).status).toBe(415);
    const huge = { ...sensor2022(), pad: "x".repeat(70_000) };
    expect((await json("POST", "/dataflows", huge)).status).toBe(413);
    expect((await json("POST", "/dataflows")).status).toBe(400);
    // Counted by route (and only the 413).
    expect(metrics.render()).toContain('vsb_requests_too_large_total{route="/dataflows"} 1');
  });
});

describe("GET /dataflows", () => {
  test("filters by quadkey prefix, dataType and active", async () => {
    const { json } = await harness();
    await json("POST", "/dataflows", sensor2022()); // 0313...
    await json("POST", "/dataflows", agentBody("032010110301111112", "video"));
    await json("POST", "/dataflows", agentBody("032010110301111113", "lidar"));
    await json("DELETE", "/dataflows/2");
    const ids = async (q: string) => (await (await json("GET", `/dataflows${q}`)).json()).map((d: { id: number }) => d.id);
    expect(await ids("")).toEqual([1, 2, 3]);
    expect(await ids("?quadkey=0320")).toEqual([2, 3]);
    expect(await ids("?dataType=video")).toEqual([1, 2]);
    expect(await ids("?active=true")).toEqual([1, 3]);
    expect(await ids("?active=false")).toEqual([2]);
    expect((await json("GET", "/dataflows?quadkey=9")).status).toBe(400);
    // Deeper than the zoom-18 key sent: matched by the zoom-25 key of the coordinates.
    expect(await ids("?quadkey=0313331232010333031221")).toEqual([1]);
    expect(await ids("?quadkey=0313331232010333031221303")).toEqual([1]);
    expect(await ids("?quadkey=0313331232010333031220")).toEqual([]);
    expect((await json("GET", "/dataflows?active=maybe")).status).toBe(400);
  });

  test("?limit=N keeps the newest N matches; ended records say when and why they ended", async () => {
    const { json } = await harness();
    for (let i = 0; i < 5; i++) await json("POST", "/dataflows", agentBody());
    await json("DELETE", "/dataflows/2");
    await json("DELETE", "/dataflows/4");
    const list = async (q: string) => (await (await json("GET", `/dataflows${q}`)).json()) as { id: number; endedAt?: string; endReason?: string }[];
    expect((await list("?limit=2")).map((d) => d.id)).toEqual([4, 5]);
    expect((await list("?active=true&limit=2")).map((d) => d.id)).toEqual([3, 5]);
    const ended = await list("?active=false&limit=1");
    expect(ended.map((d) => d.id)).toEqual([4]);
    expect(ended[0]!.endReason).toBe("deleted");
    expect(Number.isNaN(Date.parse(ended[0]!.endedAt!))).toBe(false);
    expect((await list("?active=true"))[0]!.endedAt).toBeUndefined();
    for (const bad of ["0", "-1", "x", "1.5"]) expect((await json("GET", `/dataflows?limit=${bad}`)).status).toBe(400);
  });

  test("unknown id is 404, malformed id 400", async () => {
    const { json } = await harness();
    expect((await json("GET", "/dataflows/77")).status).toBe(404);
    expect((await json("GET", "/dataflows/abc")).status).toBe(400);
    expect((await json("PUT", "/dataflows/0")).status).toBe(400);
  });
});

describe("PUT /dataflows/{id}", () => {
  test("keeps alive without a body and answers {id, send}", async () => {
    const { json } = await harness();
    await json("POST", "/dataflows", sensor2022());
    const res = await json("PUT", "/dataflows/1");
    expect(res.status).toBe(200);
    expect(KeepaliveSchema.parse(await res.json())).toEqual({ id: 1, send: false, keepaliveSeconds: 5, controlSeq: expect.any(Number) });
  });

  test("accepts updated metadata, and rejects bad metadata with 400", async () => {
    const { json } = await harness();
    await json("POST", "/dataflows", sensor2022());
    const moved = agentBody("0313331232010333");
    expect((await json("PUT", "/dataflows/1", moved)).status).toBe(200);
    expect((await (await json("GET", "/dataflows/1")).json()).metadata.dataSourceInfo.sourceId).toBe("cam-1");
    expect((await json("PUT", "/dataflows/1", { dataTypeInfo: 5 })).status).toBe(400);
  });

  test("answers 404 once the dataflow expired, so the agent re-registers", async () => {
    const { json, clock } = await harness();
    await json("POST", "/dataflows", sensor2022());
    await clock.advance(15_001);
    const res = await json("PUT", "/dataflows/1");
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatch(/dataflow "1" has ended/);
  });
});

describe("DELETE /dataflows/{id}", () => {
  test("ends the dataflow, frees its port, and a second DELETE is 404", async () => {
    const { json, store, events } = await harness();
    await json("POST", "/dataflows", { ...sensor2022(), udpForward: true });
    expect(store.allocatedPorts()).toEqual([5000]);
    expect((await json("DELETE", "/dataflows/1")).status).toBe(204);
    expect(store.allocatedPorts()).toEqual([]);
    expect(events.ended).toMatchObject([{ id: 1, reason: "deleted" }]);
    expect((await json("DELETE", "/dataflows/1")).status).toBe(404);
    const record = await (await json("GET", "/dataflows/1")).json();
    expect(record).toMatchObject({ active: false, state: "expired", udpForward: null });
  });
});

describe("/demands", () => {
  test("a lease makes send true on the next keep-alive; deleting it makes it false", async () => {
    const { json, events } = await harness();
    await json("POST", "/dataflows", sensor2022());
    const res = await json("POST", "/demands", { quadkey: "0313", ttlSeconds: 60 });
    expect(res.status).toBe(201);
    const lease = await res.json();
    expect(lease).toMatchObject({ quadkey: "0313", ttlSeconds: 60 });
    expect((await (await json("PUT", "/dataflows/1")).json()).send).toBe(true);
    expect(events.send.at(-1)).toEqual({ id: 1, send: true });
    expect((await json("GET", "/demands")).status).toBe(200);
    expect((await json("GET", PATH.demand(lease.id))).status).toBe(200);
    expect((await json("PUT", PATH.demand(lease.id), { ttlSeconds: 10 })).status).toBe(200);
    expect((await json("DELETE", PATH.demand(lease.id))).status).toBe(204);
    expect((await (await json("PUT", "/dataflows/1")).json()).send).toBe(false);
    expect(events.send.at(-1)).toEqual({ id: 1, send: false });
  });

  test("POST /demands with a zoom-22 or zoom-25 prefix sends a zoom-18 registration with lat/lon; a neighbour does not", async () => {
    for (const [quadkey, send] of [["0313331232010333031221", true], ["0313331232010333031221303", true], ["0313331232010333031221302", false]] as const) {
      const { json } = await harness();
      await json("POST", "/dataflows", sensor2022());
      expect((await json("POST", "/demands", { quadkey, ttlSeconds: 60 })).status).toBe(201);
      expect((await (await json("PUT", "/dataflows/1")).json()).send).toBe(send);
    }
  });

  test("rejects leases without selector (400), for unknown dataflows (404), unknown ids (404)", async () => {
    const { json } = await harness();
    expect((await json("POST", "/demands", { ttlSeconds: 5 })).status).toBe(400);
    expect((await json("POST", "/demands", { dataflowId: 9 })).status).toBe(404);
    expect((await json("POST", "/demands", { quadkey: "0313", ttlSeconds: 99999 })).status).toBe(400);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect((await json("PUT", PATH.demand(unknown))).status).toBe(404);
    expect((await json("DELETE", PATH.demand(unknown))).status).toBe(404);
    expect((await json("GET", "/demands/nope")).status).toBe(400);
  });
});

describe("service routes", () => {
  test("GET /mec/tile/{quadkey} answers this MEC's three services for any tile", async () => {
    const { json } = await harness();
    const res = await json("GET", "/mec/tile/031333123201033303");
    const answer = DiscoverySchema.parse(await res.json());
    expect(answer[0]!.mec_id).toBe("mec-1");
    // Ports are strings, as the 5GMETA discovery service sends them (sensors do ":" + port).
    expect(answer[0]!.sb_services.map((s) => [s.service_name, s.ip, s.port, s.url])).toEqual([
      ["message-broker", "broker.test", "1883", "mqtt://broker.test:1883"],
      ["registration-api", "mec.test", "8080", "http://mec.test:8080"],
      ["video-broker", "mec.test", "8080", "http://mec.test:8080"],
    ]);
    expect((await json("GET", "/mec/tile/0319")).status).toBe(400);
  });

  test("GET /mec/tile/{quadkey} round-trips through the agent's discoverEndpoints()", async () => {
    const { app } = await harness();
    const viaApp = ((input: string | URL | Request, init?: RequestInit) => app.request(String(input), init)) as typeof fetch;
    const tile = "031333123201033303";
    const e = await discoverEndpoints(tile, { discoveryUrl: "http://mec.test:8080", fetch: viaApp });
    expect(e).toEqual({ registrationUrl: "http://mec.test:8080", registrationUrls: ["http://mec.test:8080"], videoBrokerUrls: ["http://mec.test:8080"], mqttUrls: ["mqtt://broker.test:1883"], whipUrl: undefined, mecId: "mec-1" });
    // Without vsb's `url`, the agent builds the address from ip and the string port.
    const bare = (await (await app.request(PATH.mecTile(tile))).json()) as { sb_services: { url?: string }[] }[];
    for (const s of bare[0]!.sb_services) delete s.url;
    const plain = await discoverEndpoints(tile, { discoveryUrl: "http://x", fetch: (async () => Response.json(bare)) as unknown as typeof fetch });
    expect([plain.registrationUrl, plain.mqttUrls]).toEqual(["http://mec.test:8080", ["mqtt://broker.test:1883"]]);
  });

  test("/health is 200, /ready reflects the bus", async () => {
    let up = false;
    const { json } = await harness({ busUp: () => up });
    expect((await json("GET", "/health")).status).toBe(200);
    const notReady = await json("GET", "/ready");
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ready: false, checks: { store: true, bus: false } });
    up = true;
    expect((await json("GET", "/ready")).status).toBe(200);
  });

  test("/openapi.json documents every route with schemas from zod", async () => {
    const { json } = await harness();
    const doc = await (await json("GET", "/openapi.json")).json();
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.values(ROUTE).filter((r) => r !== ROUTE.openapi).map((r) => r.replace(/:(\w+)/g, "{$1}"));
    expect(Object.keys(doc.paths).sort()).toEqual(documented.sort());
    expect(Object.keys(doc.paths["/whip/{id}"])).toContain("post");
    expect(doc.paths["/whip/{id}"].post.responses["201"].content["application/sdp"]).toBeDefined();
    expect(doc.components.schemas.DataflowMetadata.properties.dataSourceInfo).toBeDefined();
  });

  test("/metrics counts registrations and keep-alives", async () => {
    const { json } = await harness();
    await json("POST", "/dataflows", sensor2022());
    await json("PUT", "/dataflows/1");
    await json("PUT", "/dataflows/2");
    const text = await (await json("GET", "/metrics")).text();
    expect(text).toContain("vsb_registrations_total 1");
    expect(text).toContain('vsb_keepalives_total{result="ok"} 1');
    expect(text).toContain('vsb_keepalives_total{result="not_found"} 1');
  });

  test("an unknown route is a JSON 404", async () => {
    const { json } = await harness();
    const res = await json("GET", "/nope");
    expect(res.status).toBe(404);
    expect((await res.json()).error).toContain('"GET /nope"');
  });
});

describe("API tokens", () => {
  const token = "s3cret-token-0123456789";
  test("every route but /health and /ready needs the bearer token (401 otherwise)", async () => {
    const { json } = await harness({ tokens: [`operator:${token}`, "consumer:another-token-abcdefgh"] });
    expect((await json("GET", "/health")).status).toBe(200);
    expect((await json("GET", "/ready")).status).toBe(200);
    for (const [method, path] of [["GET", "/dataflows"], ["POST", "/dataflows"], ["GET", "/metrics"], ["GET", "/mec/tile/0"], ["GET", "/openapi.json"]]) {
      const res = await json(method!, path!);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
    }
    expect((await json("GET", "/dataflows", undefined, { authorization: "Bearer wrong-token-000000000" })).status).toBe(401);
    expect((await json("GET", "/dataflows", undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await json("GET", "/dataflows", undefined, { authorization: "Bearer another-token-abcdefgh" })).status).toBe(200);
  });

  test("route modules mount their own routes; their public prefixes skip API auth; requireRoles checks the role", async () => {
    const { json } = await harness({
      tokens: [`operator:${token}`, "sensor:sensor-token-abcdefgh"],
      routes: [{
        publicPrefixes: ["/whip/"],
        mount(app, ctx) {
          app.post("/whip/:id", async (c) => c.text(`whip ${c.req.param("id")} ${await ctx.registry.checkIngestToken(Number(c.req.param("id")), "x")}`));
          app.get("/whip/watch", ctx.requireRoles(["consumer", "operator"]), (c) => c.text("ok"));
        },
      }],
    });
    const whip = await json("POST", "/whip/3");
    expect(whip.status).toBe(200);
    expect(await whip.text()).toBe("whip 3 unknown");
    expect((await json("GET", "/whip/watch")).status).toBe(401);
    expect((await json("GET", "/whip/watch", undefined, { authorization: "Bearer sensor-token-abcdefgh" })).status).toBe(403);
    expect((await json("GET", "/whip/watch", undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  test("a module route without an access rule is the operator's alone (fail closed)", async () => {
    const { json } = await harness({
      tokens: [`operator:${token}`, "consumer:consumer-token-abcdefgh"],
      routes: [{ mount: (app) => app.get("/new-thing", (c) => c.text("ok")) }],
    });
    expect((await json("GET", "/new-thing", undefined, { authorization: "Bearer consumer-token-abcdefgh" })).status).toBe(403);
    expect((await json("GET", "/new-thing", undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
