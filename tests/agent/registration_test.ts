// RegistrationClient, discoverEndpoints() and dataflowMetadata() against a fetch that records requests.
import { describe, expect, test } from "bun:test";
import { DataflowMetadataSchema, PATH, ROUTE } from "../../shared/mod.ts";
import { parseSourceSpec } from "../../agent/capture/source_spec.ts";
import { DiscoveryError, discoverEndpoints } from "../../agent/discovery/discover_endpoints.ts";
import { locationFix } from "../../agent/location/location_fix.ts";
import { dataflowMetadata } from "../../agent/registration/dataflow_metadata.ts";
import { DataflowGoneError, RegistrationClient, RegistrationHttpError } from "../../agent/registration/registration_client.ts";

interface Seen {
  method: string;
  url: string;
  auth: string | null;
  body: string | null;
}

function fakeFetch(answer: (req: Seen) => Response): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const fn = async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const req = { method: init?.method ?? "GET", url: String(input), auth: headers.get("authorization"), body: (init?.body as string) ?? null };
    seen.push(req);
    return answer(req);
  };
  return { fetch: fn as unknown as typeof fetch, seen };
}

const FIX = locationFix({ lat: 43.295778, lon: -1.980823 });
const META = dataflowMetadata({
  source: parseSourceSpec("udp:7000"), width: 640, height: 480, fps: 25, bitrate: 1500,
  sourceId: "car-7", sourceType: "vehicle", country: "Spain", licenseType: "profit", licenseGeolimit: "europe",
}, FIX, new Date(1_700_000_000_000));

describe("dataflowMetadata()", () => {
  test("is 5GMETA metadata the shared schema accepts, with quadkey zoom 18 and typed videoInfo", () => {
    const parsed = DataflowMetadataSchema.parse(META);
    expect(parsed.dataTypeInfo).toEqual({ dataType: "video", dataSubType: "h264" });
    expect(parsed.dataInfo).toMatchObject({ dataFormat: "webrtc", dataSampleRate: 25, dataflowDirection: "upload" });
    expect(parsed.dataSourceInfo.sourceLocationInfo).toEqual({
      locationQuadkey: "031333123201033303", locationCountry: "Spain", locationLatitude: 43.295778, locationLongitude: -1.980823,
    });
    expect(parsed.videoInfo).toEqual({ width: 640, height: 480, fps: 25, codec: "h264", bitrateKbps: 1500, source: "udp", timestamp: 1_700_000_000_000 });
    expect(FIX.headerTile).toBe("0313331232010333031221303");
  });
});

describe("RegistrationClient", () => {
  const registration = { id: 7, topic: "video", routingKey: "video.h264.7", send: false, keepaliveSeconds: 5, ingest: { whipUrl: "http://m/whip/7", token: "tok" }, udpForward: null };

  test("register() POSTs the metadata with the bearer token and validates the answer", async () => {
    const f = fakeFetch(() => Response.json(registration, { status: 201 }));
    const client = new RegistrationClient("http://mec:8080/", { token: "api-secret", fetch: f.fetch });
    expect(await client.register(META)).toEqual(registration);
    expect(f.seen[0]).toMatchObject({ method: "POST", url: `http://mec:8080${ROUTE.dataflows}`, auth: "Bearer api-secret" });
    expect(JSON.parse(f.seen[0]!.body!)).toEqual(JSON.parse(JSON.stringify(META)));
  });

  test("keepalive() sends no body unless the metadata changed; 404 → DataflowGoneError", async () => {
    let status = 200;
    const f = fakeFetch(() => (status === 200 ? Response.json({ id: 7, send: true }) : Response.json({ error: "unknown dataflow" }, { status })));
    const client = new RegistrationClient("http://mec", { fetch: f.fetch });
    expect(await client.keepalive(7)).toEqual({ id: 7, send: true });
    expect(f.seen[0]).toMatchObject({ method: "PUT", url: `http://mec${PATH.dataflow(7)}`, body: null });
    status = 404;
    expect(client.keepalive(7)).rejects.toBeInstanceOf(DataflowGoneError);
  });

  test("errors say what was attempted, with the status and the API's error", async () => {
    const f = fakeFetch(() => Response.json({ error: "bad metadata" }, { status: 400 }));
    const error = await new RegistrationClient("http://mec", { fetch: f.fetch }).register(META).catch((e) => e);
    expect(error).toBeInstanceOf(RegistrationHttpError);
    expect(error.message).toBe('POST "http://mec/dataflows" answered 400: bad metadata');
    const down = fakeFetch(() => {
      throw new TypeError("connection refused");
    });
    const e2 = await new RegistrationClient("http://mec", { fetch: down.fetch }).keepalive(1).catch((e) => e);
    expect(e2.message).toBe('PUT "http://mec/dataflows/1" failed');
    expect(e2.cause.message).toBe("connection refused");
  });

  test("remove() treats 404 as already deleted", async () => {
    const f = fakeFetch(() => new Response(null, { status: 404 }));
    await new RegistrationClient("http://mec", { fetch: f.fetch }).remove(3);
    expect(f.seen[0]).toMatchObject({ method: "DELETE", url: "http://mec/dataflows/3" });
  });
});

describe("discoverEndpoints()", () => {
  const answer = [{
    mec_id: 12,
    sb_services: [
      { service_name: "message-broker", ip: "10.1.0.5", port: 1883 },
      { service_name: "registration-api", ip: "10.1.0.6", port: 8080, url: "https://mec12.example/api" },
      { service_name: "video-broker", ip: "10.1.0.7", port: 8443 },
    ],
  }];

  test("asks {discoveryUrl}/mec/tile/{quadkey} and maps the services", async () => {
    const f = fakeFetch(() => Response.json(answer));
    const e = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud/", fetch: f.fetch });
    expect(f.seen[0]!.url).toBe(`http://cloud${PATH.mecTile(FIX.tile)}`);
    expect(e).toEqual({ registrationUrl: "https://mec12.example/api", registrationUrls: ["https://mec12.example/api"], videoBrokerUrls: ["http://10.1.0.7:8443"], mqttUrls: ["mqtt://10.1.0.5:1883"], whipUrl: undefined, mecId: 12 });
  });

  test("a cluster's message-broker entries all become broker nodes, in order", async () => {
    const cluster = [{ ...answer[0]!, sb_services: [...answer[0]!.sb_services, { service_name: "message-broker", ip: "10.1.0.8", port: "1884" }] }];
    const e = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", fetch: fakeFetch(() => Response.json(cluster)).fetch });
    expect(e.mqttUrls).toEqual(["mqtt://10.1.0.5:1883", "mqtt://10.1.0.8:1884"]);
  });

  test("replicas of a MEC: every registration-api and video-broker entry, in order and once each; the first is in use", async () => {
    const replicas = [{ ...answer[0]!, sb_services: [...answer[0]!.sb_services,
      { service_name: "registration-api", ip: "10.1.0.9", port: "8081" },
      { service_name: "video-broker", ip: "10.1.0.9", port: "8081" },
      { service_name: "registration-api", ip: "10.1.0.9", port: "8081" },
    ] }];
    const e = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", fetch: fakeFetch(() => Response.json(replicas)).fetch });
    expect(e.registrationUrl).toBe("https://mec12.example/api");
    expect(e.registrationUrls).toEqual(["https://mec12.example/api", "http://10.1.0.9:8081"]);
    expect(e.videoBrokerUrls).toEqual(["http://10.1.0.7:8443", "http://10.1.0.9:8081"]);
  });

  test("static --mqtt-url and --whip-url win over discovered ones; --registration-url skips discovery", async () => {
    const f = fakeFetch(() => Response.json(answer));
    const e = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", mqttUrl: ["mqtt://local:1883"], whipUrl: "http://w/whip/1", fetch: f.fetch });
    expect([e.mqttUrls, e.whipUrl]).toEqual([["mqtt://local:1883"], "http://w/whip/1"]);
    const s = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", registrationUrl: "http://mec", fetch: f.fetch });
    expect(s.registrationUrl).toBe("http://mec");
    expect(f.seen.length).toBe(1);
  });

  // As the 5GMETA discovery service answers (5gmeta/discovery tests/reference/
  // get_mec_from_tile_answer.json): ports are strings, the MEC id is `id`, extra fields abound.
  const fiveGMeta = [{
    geolocation: [{ "tile-id": "031333123201212", "zoom-level": 15 }, { "tile-id": "031333123201213", "zoom-level": 15 }],
    id: 1,
    lat: "43.2922071",
    lng: "-1.987018",
    name: "SanSebastian-MEC-Secondary",
    organization: "Vicomtech",
    props: {},
    resources: { cpu: "12", gpu: "true", memory: "16", storage: "1000" },
    sb_services: [
      { description: "Message Broker", ip: "10.0.20.92", port: "5673", service_name: "message-broker" },
      { description: "Registration API", ip: "10.0.20.92", port: "12346", service_name: "registration-api" },
    ],
  }];

  test("reads a 5GMETA answer with string ports as numbers, and its `id` as the MEC id", async () => {
    const f = fakeFetch(() => Response.json(fiveGMeta));
    const e = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", fetch: f.fetch });
    expect(e).toEqual({ registrationUrl: "http://10.0.20.92:12346", registrationUrls: ["http://10.0.20.92:12346"], videoBrokerUrls: [], mqttUrls: ["mqtt://10.0.20.92:5673"], whipUrl: undefined, mecId: 1 });
  });

  test("a non-numeric port string is a DiscoveryError naming the field and the value", async () => {
    for (const port of ["12a", "", "70000", "0", " 80"]) {
      const bad = structuredClone(fiveGMeta);
      bad[0]!.sb_services[1]!.port = port;
      const f = fakeFetch(() => Response.json(bad));
      const error = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", fetch: f.fetch }).catch((e) => e);
      expect(error).toBeInstanceOf(DiscoveryError);
      expect(error.message).toBe(`GET "http://cloud${PATH.mecTile(FIX.tile)}" answered an unexpected body at "0.sb_services.1.port": ` +
        `port ${JSON.stringify(port)} must be a number or a numeric string from 1 to 65535`);
    }
  });

  test("no MEC with a registration API is a DiscoveryError naming the tile", async () => {
    const f = fakeFetch(() => Response.json([]));
    const error = await discoverEndpoints(FIX.tile, { discoveryUrl: "http://cloud", fetch: f.fetch }).catch((e) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect(error.message).toBe(`no MEC with a registration API serves tile "${FIX.tile}"`);
  });
});
