// Discovery for many MECs, end to end on real processes: two MEC proxies (`--mec-tiles`,
// `--discovery-register-url`) start while the discovery service is still down and retry; a
// third proxy starts with `--discovery` and both register; MEC A serves a coarse tile that
// contains the vehicle and a sibling of B's tile, MEC B the vehicle's zoom-12 tile. The real
// agent (source under the pinned Deno), given only `--discovery-url`, registers at MEC B (the
// most specific) and streams to it over the brokers that discovery named; an agent whose
// position file moves from A's tile into B's moves its stream to B, make-before-break (the full
// handover test, with a broker per MEC and a border wobble, is handover_test.ts); MEC B's clean stop
// deregisters it. One RabbitMQ for all (tests/support/rabbitmq.ts), 127.0.0.1, free ports.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DISCOVERY_ZOOM, PATH, quadkey, quadkeyBounds, ROUTE, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { freePort } from "../support/ports.ts";
import { type Proc, spawnTracked, waitForHttp, waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import { type BusWatch, demand, denoBinary, emptyDir, startAgentUnderDeno, watchBus } from "./agent_e2e_harness.ts";

const ROOT = resolve(import.meta.dir, "../..");
const LAT = 43.295778;
const LON = -1.980823;
const VEHICLE = quadkey(LAT, LON, DISCOVERY_ZOOM);
const TILE_B = VEHICLE.slice(0, 12);
// A sibling of B's tile (same parent, another last digit) and a coarse tile that contains the vehicle.
const SIBLING = `${VEHICLE.slice(0, 11)}${(Number(VEHICLE[11]) + 1) % 4}`;
const REGION = VEHICLE.slice(0, 6);

const parts = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay") && denoBinary() !== undefined;
const run = skipUnless(parts, "needs rabbitmq-server, GStreamer (x264enc, rtpstreampay, clockoverlay) and deno");

interface Mec {
  base: string;
  proc: Proc;
}

async function startProxy(name: string, port: number, extra: string[], rabbit: Rabbit): Promise<Proc> {
  const base = `http://127.0.0.1:${port}`;
  const args = [
    "proxy/main.ts", "--listen", `127.0.0.1:${port}`, "--db", join(emptyDir(`vsb-${name}-`), "vsb.db"),
    "--amqp-url", rabbit.amqpUrl, "--mqtt-url", rabbit.mqttUrl, "--public-url", base, "--keepalive-seconds", "2",
    "--ice-address", "127.0.0.1", ...extra,
  ];
  const proc = spawnTracked(join(ROOT, "node_modules/.bin/bun"), args, { cwd: ROOT, name });
  await waitForHttp(`${base}${ROUTE.health}`, { timeoutMs: 20_000, proc });
  return proc;
}

const getJson = async <T>(url: string): Promise<T> => {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  return (await res.json()) as T;
};

let rabbit: Rabbit;
let discovery: Mec;
let mecA: Mec;
let mecB: Mec;
let bus: BusWatch;

describe("discovery for many MECs", () => {
  beforeAll(async () => {
    if (!parts) return;
    rabbit = await getRabbit();
    bus = await watchBus(rabbit.amqpUrl);
    const discoveryPort = await freePort();
    const discoveryBase = `http://127.0.0.1:${discoveryPort}`;
    const mec = async (name: string, tiles: string[]): Promise<Mec> => {
      const port = await freePort();
      const proc = await startProxy(name, port, [
        "--mec-id", name, "--mec-tiles", tiles.join(","), "--discovery-register-url", discoveryBase, "--discovery-register-interval", "5s",
      ], rabbit);
      return { base: `http://127.0.0.1:${port}`, proc };
    };
    mecA = await mec("mec-a", [REGION, SIBLING]);
    mecB = await mec("mec-b", [TILE_B]);
    // Nothing listens at the discovery URL yet: each MEC says so once and retries.
    for (const m of [mecA, mecB]) await m.proc.waitForLine(/"msg":"discovery registration failed, retrying"/, { timeoutMs: 10_000, stream: "stderr" });
    discovery = { base: discoveryBase, proc: await startProxy("discovery", discoveryPort, ["--discovery"], rabbit) };
  }, 120_000);
  afterAll(async () => {
    for (const m of [mecA, mecB, discovery]) await m?.proc.stop();
  });

  run("MECs register once the discovery service is up; the agent given only --discovery-url registers and streams at the most specific MEC", async () => {
    const started = performance.now();
    const mecs = await waitUntil("both MECs registered", async () => {
      const list = await getJson<{ id: number; name: string; geolocation: { "tile-id": string }[] }[]>(`${discovery.base}${PATH.mecs}`);
      return list.length === 2 ? list : undefined;
    }, { timeoutMs: 20_000, proc: discovery.proc });
    console.log(`discovery up → both MECs registered: ${Math.round(performance.now() - started)} ms`);
    expect(mecs.map((m) => [m.name, m.geolocation.map((g) => g["tile-id"])]).sort()).toEqual([["mec-a", [REGION, SIBLING]], ["mec-b", [TILE_B]]]);
    for (const m of [mecA, mecB]) {
      expect(m.proc.output("stderr").match(/"msg":"discovery registration failed, retrying"/g)?.length).toBe(1);
    }
    // Both cover the vehicle's tile; B's is the more specific. A's sibling tile is A's alone.
    const forVehicle = await getJson<{ mec_id: string }[]>(`${discovery.base}${PATH.mecTile(VEHICLE)}`);
    expect(forVehicle.map((m) => m.mec_id)).toEqual(["mec-b", "mec-a"]);
    expect((await getJson<{ mec_id: string }[]>(`${discovery.base}${PATH.mecTile(`${SIBLING}000000`)}`)).map((m) => m.mec_id)).toEqual(["mec-a"]);

    const agent = startAgentUnderDeno([
      "--source", "test", "--width", "320", "--height", "240", "--fps", "30", "--bitrate", "500",
      "--lat", String(LAT), "--lon", String(LON), "--discovery-url", discovery.base, "--ice-address", "127.0.0.1",
    ], "agent-discovery");
    const registered = JSON.parse(await agent.waitForLine(/"msg":"registered"/, { timeoutMs: 45_000, stream: "stderr" })) as { id: number };
    const atB = await getJson<{ id: number; active: boolean }>(`${mecB.base}${PATH.dataflow(registered.id)}`);
    expect(atB.active).toBe(true);
    expect(await getJson<unknown[]>(`${mecA.base}${ROUTE.dataflows}`)).toEqual([]);
    // The brokers came from discovery too: MQTT connects, and frames flow once B has demand.
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 15_000, stream: "stderr" });
    await demand({ base: mecB.base, port: 0, proc: mecB.proc, stop: async () => {}, start: async () => {} }, registered.id);
    await waitUntil("frames of the agent's dataflow on RabbitMQ", () => bus.framesOf(registered.id).length >= 10, { timeoutMs: 20_000, proc: agent });
    await agent.stop();
    // B's dataflow ends with a terminatedataflow; the next test's MEC A numbers its first dataflow
    // 1 too, so this one must be on the bus (and the proxies' 1 s grace past) before that test watches.
    await waitUntil("B's terminatedataflow", () => bus.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === registered.id), { timeoutMs: 10_000 });
    const ended = performance.now();
    await waitUntil("1.5 s past it (a second announcement would be here)", () => performance.now() - ended > 1500, { timeoutMs: 5_000 });
  }, 150_000);

  // When its position file moves it from A's tile into B's, the agent re-reads the file,
  // recomputes its tile, and once the tile has held for --handover-hold (5 s) asks discovery
  // again at its next keep-alive and hands over make-before-break: it registers and pushes at B
  // beside A (one capture), and ends A's dataflow (one terminatedataflow, DELETE) only once B
  // receives. Before issue #15 item 3 this was break-before-make, with a gap of ~300 ms.
  run("an agent whose position file moves from A's tile into B's re-discovers and moves its stream from MEC A to MEC B, make-before-break", async () => {
    const watch = await watchBus(rabbit.amqpUrl); // a fresh watch: B's dataflow 1 of the first test is not A's dataflow 1
    for (const m of [mecA, mecB]) {
      const res = await fetch(`${m.base}${ROUTE.demands}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ dataType: "video", ttlSeconds: 120 }) });
      expect(res.status).toBe(201);
    }
    const at = (key: string) => {
      const b = quadkeyBounds(key);
      return { lat: (b.north + b.south) / 2, lon: (b.west + b.east) / 2 };
    };
    const file = join(emptyDir("vsb-position-"), "position.json");
    writeFileSync(file, JSON.stringify({ class: "TPV", ...at(SIBLING) }));
    const agent = startAgentUnderDeno([
      "--source", "test", "--width", "320", "--height", "240", "--fps", "30", "--bitrate", "500",
      "--position-file", file, "--discovery-url", discovery.base, "--ice-address", "127.0.0.1",
    ], "agent-moving");
    const first = JSON.parse(await agent.waitForLine(/"msg":"registered"/, { timeoutMs: 45_000, stream: "stderr" })) as { id: number };
    expect((await getJson<{ id: number }[]>(`${mecA.base}${ROUTE.dataflows}?active=true`)).map((d) => d.id)).toEqual([first.id]);
    await waitUntil("frames at MEC A", () => watch.framesOf(first.id).length >= 10, { timeoutMs: 20_000, proc: agent });

    const moved = performance.now();
    writeFileSync(file, JSON.stringify({ class: "TPV", lat: LAT, lon: LON }));
    await agent.waitForLine(/"msg":"serving MEC changed"/, { timeoutMs: 20_000, stream: "stderr" });
    const atB = await waitUntil("the dataflow at MEC B", async () => {
      const list = await getJson<{ id: number }[]>(`${mecB.base}${ROUTE.dataflows}?active=true`);
      return list[0];
    }, { timeoutMs: 20_000, proc: agent });
    await agent.waitForLine(/"msg":"handed over"/, { timeoutMs: 20_000, stream: "stderr" });
    await waitUntil("frames at MEC B", () => watch.framesOf(atB.id).length > 0, { timeoutMs: 20_000, proc: agent });
    await waitUntil("A's terminatedataflow", () => watch.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === first.id), { timeoutMs: 10_000, proc: agent });
    const terminated = performance.now();
    await waitUntil("1.5 s past it (the proxy's own would have come by then)", () => performance.now() - terminated > 1500, { timeoutMs: 5_000 });
    const lastAtA = watch.framesOf(first.id).at(-1)!;
    const firstAtB = watch.framesOf(atB.id)[0]!;
    console.log(`position moved → first frame at MEC B: ${Math.round(firstAtB - moved)} ms (hold 5 s + next keep-alive); A's last frame ${Math.round(lastAtA - firstAtB)} ms after B's first (make-before-break)`);
    // Make-before-break: A's stream went on after B's began, then ended with one terminatedataflow.
    expect(lastAtA).toBeGreaterThan(firstAtB);
    expect(watch.events.filter((e) => e.key === TERMINATE_DATAFLOW && e.id === first.id).length).toBe(1);
    expect(await getJson<unknown[]>(`${mecA.base}${ROUTE.dataflows}?active=true`)).toEqual([]);
    await agent.stop();
  }, 150_000);

  run("a clean stop of MEC B deregisters it: the vehicle's tile falls back to A's region", async () => {
    await mecB.proc.stop();
    expect(mecB.proc.output("stderr")).toContain('"msg":"deregistered from discovery"');
    expect((await getJson<{ mec_id: string }[]>(`${discovery.base}${PATH.mecTile(VEHICLE)}`)).map((m) => m.mec_id)).toEqual(["mec-a"]);
  }, 30_000);
});
