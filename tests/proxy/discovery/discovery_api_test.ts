// The Discovery API for many MECs (`--discovery`) in memory: 5GMETA's shapes and two-way prefix
// match, ordered most specific first, its deletes, its validation (one-line 4xx), and that the
// agent's own discovery client finds the right MEC in the answer.
import { describe, expect, test } from "bun:test";
import { discoverEndpoints } from "../../../agent/discovery/discover_endpoints.ts";
import { discoveryRoutes } from "../../../proxy/discovery/discovery_routes.ts";
import { sqliteMecStore } from "../../../proxy/discovery/sqlite_mec_store.ts";
import { Store } from "../../../proxy/store/store.ts";
import { DiscoverySchema, PATH } from "../../../shared/mod.ts";
import { Metrics } from "../../../proxy/metrics.ts";
import { harness } from "../harness.ts";

const OPERATOR = "operator-token-0123456789";
const SENSOR = "sensor-token-01234567890";
const AUTH = { authorization: `Bearer ${OPERATOR}` };

async function setup() {
  const store = new Store(":memory:", { first: 5000, last: 5999 });
  const clock = { now: 1_700_000_000_000 };
  const lapsed = new Metrics().counter("vsb_discovery_lapsed_skipped_total", "test");
  const h = await harness({
    tokens: [`operator:${OPERATOR}`, `sensor:${SENSOR}`], discoveryService: true,
    routes: [discoveryRoutes(sqliteMecStore(store.database), { now: () => clock.now, lapsed })],
  });
  const register = async (name: string, tiles: string[], port = 8080, extra: Record<string, unknown> = {}) => {
    const res = await h.json("POST", "/mec", {
      name, organization: "vsb", ...extra,
      sb_services: [
        { service_name: "message-broker", ip: "127.0.0.1", port: "1883", description: "Message Broker" },
        { service_name: "registration-api", ip: "127.0.0.1", port: String(port), url: `http://127.0.0.1:${port}` },
      ],
      geolocation: tiles.map((t) => ({ "tile-id": t })),
    }, AUTH);
    expect(res.status).toBe(200);
    return Number(((await res.json()) as { mec_id: string }).mec_id);
  };
  const lookup = async (quadkey: string, token = SENSOR) => {
    const res = await h.app.request(`/mec/tile/${quadkey}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { id: number; mec_id: string; name: string; geolocation: { "tile-id": string }[] }[];
  };
  return { ...h, register, lookup, clock, lapsed };
}

describe("the discovery service", () => {
  test("POST /mec answers 5GMETA's {mec_id} as a string; the same name again is the same MEC, its tiles replaced", async () => {
    const s = await setup();
    const a = await s.register("mec-a", ["0313", "0320"]);
    expect(a).toBe(1);
    expect(await s.register("mec-b", ["1"])).toBe(2);
    expect(await s.register("mec-a", ["0321"])).toBe(1);
    const [mec] = (await (await s.app.request("/mec/1", { headers: AUTH })).json()) as { geolocation: unknown; sb_services: unknown[]; organization: string }[];
    expect(mec!.geolocation).toEqual([{ "tile-id": "0321", "zoom-level": 4 }]);
    expect(mec!.organization).toBe("vsb");
    expect(mec!.sb_services[0]).toEqual({ service_name: "message-broker", ip: "127.0.0.1", port: "1883", description: "Message Broker" });
    expect((await s.lookup("03130000")).length).toBe(0);
  });

  test("GET /mec/tile/:quadkey matches both ways: covering tiles longest first, else tiles inside the key shortest first", async () => {
    const s = await setup();
    const region = await s.register("region", ["0313"]);
    const city = await s.register("city", ["031312"]);
    const street = await s.register("street", ["0313121", "2"]);
    const other = await s.register("other", ["0320"]);
    // The vehicle's tile lies in all three: the most specific MEC first.
    expect((await s.lookup("031312100123")).map((m) => m.id)).toEqual([street, city, region]);
    expect((await s.lookup("0313120")).map((m) => m.id)).toEqual([city, region]);
    // A tile equal to the key covers it.
    expect((await s.lookup("0313")).map((m) => m.id)).toEqual([region]);
    // A coarser key than every tile: those inside it, the one covering most of it first.
    expect((await s.lookup("031")).map((m) => m.id)).toEqual([region, city, street]);
    expect((await s.lookup("03")).map((m) => m.id)).toEqual([region, other, city, street]);
    // None: an empty list, as 5GMETA answers it.
    expect(await s.lookup("1")).toEqual([]);
  });

  test("ties (same tile length) go to the MEC registered first", async () => {
    const s = await setup();
    const first = await s.register("first", ["0313"]);
    const second = await s.register("second", ["0313"]);
    expect((await s.lookup("03131")).map((m) => m.name)).toEqual(["first", "second"]);
    expect([first, second]).toEqual([1, 2]);
  });

  test("the answer is what the agent parses: discoverEndpoints() takes the most specific MEC's services", async () => {
    const s = await setup();
    await s.register("region", ["0313"], 8081);
    await s.register("city", ["031312"], 8082);
    const fetchApp = ((input: string, init?: RequestInit) => s.app.request(input, init)) as typeof fetch;
    const answer = DiscoverySchema.parse(await s.lookup("031312100123"));
    expect(answer.map((m) => m.mec_id)).toEqual(["city", "region"]);
    const found = await discoverEndpoints("031312100123", { discoveryUrl: "http://discovery.test", apiToken: SENSOR, fetch: fetchApp });
    expect(found).toEqual({ registrationUrl: "http://127.0.0.1:8082", registrationUrls: ["http://127.0.0.1:8082"], videoBrokerUrls: [], mqttUrls: ["mqtt://127.0.0.1:1883"], whipUrl: undefined, mecId: "city" });
    await expect(discoverEndpoints("2", { discoveryUrl: "http://discovery.test", apiToken: SENSOR, fetch: fetchApp }))
      .rejects.toThrow('no MEC with a registration API serves tile "2"');
  });

  test("POST and DELETE of one tile; DELETE of a MEC; 404 for what does not exist", async () => {
    const s = await setup();
    const id = await s.register("mec-a", ["0313"]);
    const call = (method: string, path: string) => s.app.request(path, { method, headers: AUTH });
    expect(await (await call("POST", `/mec/${id}/tile/0320`)).json()).toEqual({ mec_id: "1", message: "Added", tile: "0320" });
    expect(await (await call("POST", `/mec/${id}/tile/0320`)).json()).toEqual({ mec_id: "1", message: "Already served by this MEC", tile: "0320" });
    expect((await s.lookup("03201")).map((m) => m.id)).toEqual([id]);
    expect(await (await call("DELETE", `/mec/${id}/tile/0320`)).json()).toEqual({ mec_id: "1", message: "Tile deleted", tile: "0320" });
    expect(await s.lookup("03201")).toEqual([]);
    const absent = await call("DELETE", `/mec/${id}/tile/0320`);
    expect([absent.status, (await absent.json()).error]).toEqual([404, 'tile "0320" is not served by MEC "1"']);
    expect((await call("POST", "/mec/9/tile/0320")).status).toBe(404);
    expect((await call("DELETE", "/mec/9/tile/0320")).status).toBe(404);
    expect(await (await call("DELETE", `/mec/${id}`)).json()).toEqual({ mec_id: "1", message: "MEC deleted" });
    expect(await s.lookup("03131")).toEqual([]);
    const gone = await call("DELETE", `/mec/${id}`);
    expect([gone.status, (await gone.json()).error]).toEqual([404, 'MEC "1" does not exist']);
    expect((await call("GET", `/mec/${id}`)).status).toBe(404);
    // Its tiles went with it: a new MEC may take them, and gets a new id (never reused).
    expect(await s.register("mec-a", ["0313"])).toBe(2);
  });

  test("bad input answers a one-line 400 naming what is wrong", async () => {
    const s = await setup();
    await s.register("mec-a", ["0313"]);
    const cases: [string, string, unknown, string][] = [
      ["GET", "/mec/tile/0314x", undefined, 'quadkey is invalid at "(root)": must be a quadkey of 1 to 31 digits 0-3'],
      ["GET", "/mec/abc", undefined, 'MEC id "abc" must be a whole number from 1'],
      ["DELETE", "/mec/0", undefined, 'MEC id "0" must be a whole number from 1'],
      ["POST", "/mec/1/tile/04", undefined, 'tile is invalid at "(root)": must be a quadkey of 1 to 31 digits 0-3'],
      ["POST", "/mec", { name: "x" }, 'MEC is invalid at "sb_services": Invalid input: expected array, received undefined'],
      ["POST", "/mec", { name: "x", sb_services: [{ service_name: "registration-api", ip: "h", port: "99999" }] }, 'MEC is invalid at "sb_services.0.port": port "99999" must be a number or a numeric string from 1 to 65535'],
      ["POST", "/mec", { name: "x", sb_services: [{ service_name: "a", ip: "h", port: 1 }], geolocation: [{ "tile-id": "9" }] }, 'MEC is invalid at "geolocation.0.tile-id": must be a quadkey of 1 to 31 digits 0-3'],
    ];
    for (const [method, path, body, error] of cases) {
      const res = await s.json(method, path, body, AUTH);
      const text = await res.text();
      expect([res.status, JSON.parse(text).error]).toEqual([400, error]);
      expect(text).not.toContain("\n");
    }
    expect((await s.lookup("0313")).map((m) => m.name)).toEqual(["mec-a"]);
  });

  test("a MEC registered with ttlSeconds is no longer named once it lapses, and is again when it registers again", async () => {
    const s = await setup();
    await s.register("steady", ["0313"]);
    await s.register("mortal", ["031312"], 8080, { ttlSeconds: 15 });
    expect((await s.lookup("0313120")).map((m) => m.name)).toEqual(["mortal", "steady"]);
    s.clock.now += 15_000;
    expect((await s.lookup("0313120")).map((m) => m.name)).toEqual(["steady"]);
    expect(s.lapsed.with().get()).toBe(1);
    // Still listed for the operator, with the time it lapsed.
    const all = (await (await s.app.request("/mec", { headers: AUTH })).json()) as { name: string; expiresAt?: number }[];
    expect(all.map((m) => [m.name, m.expiresAt])).toEqual([["steady", undefined], ["mortal", 1_700_000_015_000]]);
    await s.register("mortal", ["031312"], 8080, { ttlSeconds: 15 });
    expect((await s.lookup("0313120")).map((m) => m.name)).toEqual(["mortal", "steady"]);
  });

  test("replicas of one MEC registering with ttlSeconds are all named, each lapses alone, and one leaving keeps the others", async () => {
    const s = await setup();
    const id = await s.register("motorway", ["0313"], 8081, { ttlSeconds: 30 });
    s.clock.now += 10_000;
    expect(await s.register("motorway", ["0313"], 8082, { ttlSeconds: 30 })).toBe(id);
    const agentSees = async () => {
      const fetchIt = ((url: string) => s.app.request(new URL(url).pathname, { headers: { authorization: `Bearer ${SENSOR}` } })) as unknown as typeof fetch;
      return (await discoverEndpoints("03131", { discoveryUrl: "http://discovery", fetch: fetchIt })).registrationUrls;
    };
    expect(await agentSees()).toEqual(["http://127.0.0.1:8082", "http://127.0.0.1:8081"]);
    // 8081 stops registering: 25 s later its entries have lapsed, 8082's have not.
    s.clock.now += 25_000;
    expect(await agentSees()).toEqual(["http://127.0.0.1:8082"]);
    // 8081 comes back, then leaves cleanly: 8082 stays named.
    await s.register("motorway", ["0313"], 8081, { ttlSeconds: 30 });
    expect((await s.json("DELETE", PATH.mecReplica(id, "http://127.0.0.1:8081"), undefined, AUTH)).status).toBe(200);
    expect(await agentSees()).toEqual(["http://127.0.0.1:8082"]);
    expect((await s.json("DELETE", PATH.mecReplica(id, "http://127.0.0.1:8082"), undefined, AUTH)).status).toBe(200);
    expect(await s.lookup("0313")).toEqual([]);
  });

  test("writes are the operator's: a sensor may look up but not register", async () => {
    const s = await setup();
    const res = await s.json("POST", "/mec", { name: "x", sb_services: [{ service_name: "a", ip: "h", port: 1 }] }, { authorization: `Bearer ${SENSOR}` });
    expect(res.status).toBe(403);
    expect((await s.app.request("/mec/tile/0")).status).toBe(401);
    expect(await s.lookup("0")).toEqual([]);
  });
});
