// The WHEP routes in the proxy's app (in memory, `app.request()`), with real werift answers:
// 401 without the API token (CORS-readable), 404 for unknown dataflows, 503 + Retry-After
// (and a demand placed) while not live, 415/400 for bad offers, 201 + Location for a live
// one with a demand lease held while watched, DELETE ends the viewer, PATCH is 405, and a
// dataflow that ends takes its viewers with it.
import { afterAll, describe, expect, test } from "bun:test";
import type { RouteModule } from "../../../proxy/api/create_app.ts";
import type { UnitSource } from "../../../proxy/whep/whep_playback.ts";
import { createWhep, WHEP_PREFIX, type Whep, type WhepOptions, type WhepParts } from "../../../proxy/whep/whep_module.ts";
import { PATH, SDP_CONTENT_TYPE } from "../../../shared/mod.ts";
import { LOOPBACK_ICE } from "../../e2e/whip_harness.ts";
import { recvonlyOffer } from "../../e2e/whep_player.ts";
import { harness } from "../harness.ts";
import { agentBody } from "../sensor_body.ts";

const TOKEN = "whep-test-token-0";
const SENSOR_TOKEN = "whep-sensor-token-0";
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** A source with no stream: counts keyframe requests. */
function idleSource(): UnitSource & { keyframeRequests: number } {
  return { keyframeRequests: 0, addOutput: () => () => {}, requestKeyframe() { this.keyframeRequests++; return true; } };
}

/** Mounts WHEP with the app's own registry and metrics (built lazily in mount). */
function whepModule(source: UnitSource, hold: { whep?: Whep }, options: WhepOptions = {}): RouteModule {
  return {
    publicPrefixes: [WHEP_PREFIX],
    flowStats: (id) => hold.whep?.module.flowStats?.(id),
    mount(app, ctx) {
      const config: WhepParts["config"] = { iceAddresses: ["127.0.0.1"], iceServers: [] };
      hold.whep = createWhep({ config, registry: ctx.registry, metrics: ctx.metrics }, source, { ice: LOOPBACK_ICE, ...options });
      cleanups.push(() => hold.whep!.playback.close());
      hold.whep.module.mount(app, ctx);
    },
  };
}

async function setup(tokens: string[] = [`operator:${TOKEN}`, `sensor:${SENSOR_TOKEN}`], options?: WhepOptions) {
  const source = idleSource();
  const hold: { whep?: Whep } = {};
  const h = await harness({ tokens, routes: [whepModule(source, hold, options)] });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const register = async () => (await (await h.json("POST", "/dataflows", agentBody(), auth)).json()).id as number;
  const post = (id: number | string, sdp: string, headers: Record<string, string> = auth) =>
    h.app.request(`/whep/${id}`, { method: "POST", headers: { "content-type": SDP_CONTENT_TYPE, ...headers }, body: sdp });
  return { ...h, source, whep: () => hold.whep!, auth, register, post };
}

describe("WHEP routes", () => {
  test("401 without or with a wrong API token, readable cross-origin; the preflight needs none", async () => {
    const s = await setup();
    const id = await s.register();
    for (const headers of [{}, { authorization: "Bearer nope" }] as Record<string, string>[]) {
      const res = await s.post(id, "v=0\r\n", headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
    }
    const pre = await s.app.request(PATH.whep(id), { method: "OPTIONS" });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("accept-post")).toBe(SDP_CONTENT_TYPE);
    expect((await s.app.request(`${PATH.whep(id)}/x`, { method: "DELETE" })).status).toBe(401);
  });

  test("403 for a sensor's token (sensors push, they do not watch), readable cross-origin", async () => {
    const s = await setup();
    const id = await s.register();
    const res = await s.post(id, "v=0\r\n", { authorization: `Bearer ${SENSOR_TOKEN}` });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect((await res.json()).error).toContain('"sensor" may not POST');
  });

  test("404 for an unknown, malformed or ended dataflow", async () => {
    const s = await setup();
    expect((await s.post(999, "v=0\r\n")).status).toBe(404);
    expect((await s.post("abc", "v=0\r\n")).status).toBe(404);
    const id = await s.register();
    await s.json("DELETE", PATH.dataflow(id), undefined, s.auth);
    const res = await s.post(id, await recvonlyOffer(cleanups));
    expect(res.status).toBe(404);
    expect((await res.json()).error).toContain("has ended");
  });

  test("503 + Retry-After while registered but not live, and a demand lease wakes the sensor", async () => {
    const s = await setup();
    const id = await s.register();
    const res = await s.post(id, await recvonlyOffer(cleanups));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await res.json()).toMatchObject({ error: expect.stringContaining("not live"), details: { state: "registered" } });
    expect(s.events.send.at(-1)).toEqual({ id, send: true });
    expect(s.whep().playback.demand.leaseOf(id)).toBeDefined();
  });

  test("415 for another content type, 400 for a malformed offer or a sendonly one", async () => {
    const s = await setup();
    const id = await s.register();
    s.registry.setMediaState(id, "live");
    expect((await s.post(id, "x", { ...s.auth, "content-type": "text/plain" })).status).toBe(415);
    expect((await s.post(id, "v=0\r\n")).status).toBe(400);
    const sendonly = (await recvonlyOffer(cleanups)).replace("a=recvonly", "a=sendonly");
    const res = await s.post(id, sendonly);
    expect(res.status).toBe(400);
    expect((await res.json()).details).toContain("recvonly");
  });

  test("201 + answer + Location for a live dataflow; a lease while watched; DELETE ends it; PATCH is 405", async () => {
    const s = await setup();
    const id = await s.register();
    s.registry.setMediaState(id, "live");
    const res = await s.post(id, await recvonlyOffer(cleanups));
    expect(res.status).toBe(201);
    const location = res.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^/whep/${id}/[0-9a-f-]{36}$`));
    const answer = await res.text();
    expect(answer).toContain("a=ice-lite");
    expect(answer).toContain("a=sendonly");
    expect(answer.split("\r\n").filter((l) => l.startsWith("a=candidate:")).every((l) => l.includes(" 127.0.0.1 "))).toBe(true);
    expect(s.whep().playback.viewerCount(id)).toBe(1);
    expect(s.source.keyframeRequests).toBe(1); // no GOP cached yet: ask the publisher
    expect(s.events.send.at(-1)).toEqual({ id, send: true });
    const listed = await (await s.app.request("/dataflows", { headers: s.auth })).json();
    expect(listed[0].stats).toEqual({ viewers: 1 });

    expect((await s.app.request(location, { method: "PATCH", headers: s.auth })).status).toBe(405);
    expect((await s.app.request(location, { method: "DELETE", headers: s.auth })).status).toBe(200);
    expect(s.whep().playback.viewerCount(id)).toBe(0);
    expect(s.whep().playback.ended.delete).toBe(1);
    expect(s.events.send.at(-1)).toEqual({ id, send: false });
    expect((await (await s.app.request(PATH.dataflow(id), { headers: s.auth })).json()).stats).toBeUndefined();
    expect((await s.app.request(location, { method: "DELETE", headers: s.auth })).status).toBe(404);
    expect(await (await s.app.request("/metrics", { headers: s.auth })).text()).toContain('vsb_whep_viewers_ended_total{reason="delete"} 1');
  });

  test("a dataflow that ends ends its viewers", async () => {
    const s = await setup([]);
    const id = await s.register();
    s.registry.setMediaState(id, "live");
    expect((await s.post(id, await recvonlyOffer(cleanups), {})).status).toBe(201);
    await s.json("DELETE", PATH.dataflow(id));
    expect(s.whep().playback.viewerCount(id)).toBe(0);
    expect(s.whep().playback.ended["dataflow-ended"]).toBe(1);
    expect(s.whep().playback.demand.size).toBe(0);
  });

  test("503 without Retry-After once the proxy serves its maximum of viewers", async () => {
    const s = await setup([], { maxViewers: 1 });
    const id = await s.register();
    s.registry.setMediaState(id, "live");
    expect((await s.post(id, await recvonlyOffer(cleanups), {})).status).toBe(201);
    const res = await s.post(id, await recvonlyOffer(cleanups), {});
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBeNull();
    expect(await res.json()).toMatchObject({ error: expect.stringContaining("--max-whep-viewers"), details: { reason: "total_limit", limit: 1 } });
  });

  test("parallel POSTs: the per-dataflow cap counts viewers still negotiating; a failed offer frees its slot", async () => {
    const s = await setup([], { maxViewers: 10, maxViewersPerDataflow: 3 });
    const a = await s.register();
    const b = await s.register();
    s.registry.setMediaState(a, "live");
    s.registry.setMediaState(b, "live");
    expect((await s.post(a, "v=0\r\n", {})).status).toBe(400); // failed after its reservation
    const offer = await recvonlyOffer(cleanups);
    const statuses = await Promise.all(Array.from({ length: 40 }, async () => (await s.post(a, offer, {})).status));
    expect(statuses.filter((x) => x === 201).length).toBe(3);
    expect(statuses.filter((x) => x === 503).length).toBe(37);
    expect(s.whep().playback.viewerCount(a)).toBe(3);
    expect(s.whep().playback.caps.negotiating()).toBe(0);
    expect((await s.post(b, offer, {})).status).toBe(201); // another dataflow still has room
    const metrics = await (await s.app.request("/metrics")).text();
    expect(metrics).toContain('vsb_whep_rejected_total{reason="per_dataflow_limit"} 37');
    expect(metrics).toContain('vsb_whep_rejected_total{reason="total_limit"} 0');
  });

  test("a player that never connects (no ICE) is ended as ice-failed and its lease released", async () => {
    const s = await setup([]);
    const id = await s.register();
    s.registry.setMediaState(id, "live");
    expect((await s.post(id, await recvonlyOffer(cleanups), {})).status).toBe(201); // the answer is never applied
    s.whep().playback.check(Date.now() + 5_000);
    expect(s.whep().playback.viewerCount(id)).toBe(1);
    s.whep().playback.check(Date.now() + 11_000);
    expect(s.whep().playback.viewerCount(id)).toBe(0);
    expect(s.whep().playback.ended["ice-failed"]).toBe(1);
    await s.whep().playback.demandSettled();
    expect(s.events.send.at(-1)).toEqual({ id, send: false });
  });
});
