// Handover from MEC to MEC, end to end on real parts (issue #15 item 3): two MEC proxies, each
// with its OWN RabbitMQ, one discovery proxy, and the real agent (source under the pinned Deno)
// with a test pattern and a position file. MEC A serves one zoom-12 tile, MEC B the next one.
//   1. A border wobble (the file toggles between A's and B's tile faster than --handover-hold)
//      does not hand over: the agent sees every move, and stays at A.
//   2. Moved into B's tile for good, it hands over make-before-break: on A's bus frames go on
//      until after B's first frame (by capture time: one capture feeds both pushes), B's first
//      frame is a keyframe, the vehicle's video has no gap across the two buses, A gets exactly
//      one terminatedataflow, and both buses carry the same registeredSourceId.
// 127.0.0.1 and free ports only; every process is stopped by pid (tests/support/procs.ts).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import amqp from "amqplib";
import {
  DISCOVERY_ZOOM, EVENTS_EXCHANGE, HEADER, NEW_DATAFLOW, PATH, quadkey, quadkeyBounds, ROUTE, TERMINATE_DATAFLOW,
  VIDEO_EXCHANGE, videoBindingPattern,
} from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { freePort } from "../support/ports.ts";
import { onCleanup, type Proc, sleep, spawnTracked, waitForHttp, waitUntil } from "../support/procs.ts";
import { hasRabbit, type Rabbit, startRabbit } from "../support/rabbitmq.ts";
import { denoBinary, emptyDir, startAgentUnderDeno } from "./agent_e2e_harness.ts";

const ROOT = resolve(import.meta.dir, "../..");
const LAT = 43.295778;
const LON = -1.980823;
const VEHICLE = quadkey(LAT, LON, DISCOVERY_ZOOM);
const TILE_B = VEHICLE.slice(0, 12);
const TILE_A = `${VEHICLE.slice(0, 11)}${(Number(VEHICLE[11]) + 1) % 4}`;
const SOURCE_ID = "vehicle-handover-7";
const HOLD_SECONDS = 3;
const FRAME_MS = 1000 / 30;

const parts = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay") && denoBinary() !== undefined;
const run = skipUnless(parts, "needs rabbitmq-server, GStreamer (x264enc, rtpstreampay, clockoverlay) and deno");

/** One frame or event as a bus consumer sees it. */
interface Seen {
  key: string;
  at: number;
  headers: Record<string, unknown>;
  id?: number;
  /** An event's body (the dataflow metadata and its id). */
  body?: { id: number; dataSourceInfo?: { sourceId?: unknown } };
}

/** Everything on one broker: frames (by dataflow id) and dataflow events, with their headers. */
async function watch(amqpUrl: string): Promise<{ frames(id: number): Seen[]; events: Seen[] }> {
  const conn = await amqp.connect(amqpUrl);
  const ch = await conn.createChannel();
  await ch.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const q = await ch.assertQueue("", { exclusive: true, autoDelete: true });
  await ch.bindQueue(q.queue, EVENTS_EXCHANGE, NEW_DATAFLOW);
  await ch.bindQueue(q.queue, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
  await ch.bindQueue(q.queue, VIDEO_EXCHANGE, videoBindingPattern());
  const frames = new Map<number, Seen[]>();
  const events: Seen[] = [];
  await ch.consume(q.queue, (msg) => {
    if (!msg) return;
    const seen: Seen = { key: msg.fields.routingKey, at: performance.now(), headers: msg.properties.headers ?? {} };
    if (msg.fields.exchange === VIDEO_EXCHANGE) {
      const id = Number(seen.key.split(".").at(-1));
      frames.set(id, [...(frames.get(id) ?? []), seen]);
    } else {
      seen.body = JSON.parse(msg.content.toString()) as Seen["body"];
      seen.id = Number(seen.body!.id);
      events.push(seen);
    }
  }, { noAck: true });
  onCleanup(async () => {
    await ch.close().catch(() => {});
    await conn.close().catch(() => {});
  });
  return { frames: (id) => frames.get(id) ?? [], events };
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

const centre = (key: string) => {
  const b = quadkeyBounds(key);
  return { lat: (b.north + b.south) / 2, lon: (b.west + b.east) / 2 };
};

const captureTime = (s: Seen) => Number(s.headers[HEADER.captureTime]);

interface Mec {
  base: string;
  proc: Proc;
  rabbit: Rabbit;
  bus: Awaited<ReturnType<typeof watch>>;
}

let mecA: Mec;
let mecB: Mec;
let discovery: Proc;
let discoveryBase = "";

describe("handover between two MECs with their own brokers", () => {
  beforeAll(async () => {
    if (!parts) return;
    const rabbitA = await startRabbit();
    const rabbitB = await startRabbit();
    const discoveryPort = await freePort();
    discoveryBase = `http://127.0.0.1:${discoveryPort}`;
    discovery = await startProxy("discovery", discoveryPort, ["--discovery"], rabbitA);
    const mec = async (name: string, tile: string, rabbit: Rabbit): Promise<Mec> => {
      const port = await freePort();
      const proc = await startProxy(name, port, ["--mec-id", name, "--mec-tiles", tile, "--discovery-register-url", discoveryBase], rabbit);
      return { base: `http://127.0.0.1:${port}`, proc, rabbit, bus: await watch(rabbit.amqpUrl) };
    };
    [mecA, mecB] = await Promise.all([mec("mec-a", TILE_A, rabbitA), mec("mec-b", TILE_B, rabbitB)]);
    await waitUntil("both MECs registered at discovery", async () => (await getJson<unknown[]>(`${discoveryBase}${PATH.mecs}`)).length === 2, { timeoutMs: 20_000, proc: discovery });
    // Consumers everywhere: each MEC's dataflows get send=true.
    for (const m of [mecA, mecB]) {
      const res = await fetch(`${m.base}${ROUTE.demands}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ dataType: "video", ttlSeconds: 300 }) });
      expect(res.status).toBe(201);
    }
  }, 180_000);
  afterAll(async () => {
    for (const p of [mecA?.proc, mecB?.proc, discovery]) await p?.stop();
  });

  run("a border wobble does not hand over; moving into B's tile hands over make-before-break with no gap, one terminatedataflow on A, one sourceId", async () => {
    const dir = emptyDir("vsb-position-");
    const file = join(dir, "position.json");
    const statusFile = join(dir, "status.json");
    const put = (key: string) => writeFileSync(file, JSON.stringify({ class: "TPV", ...centre(key) }));
    put(TILE_A);
    const agent = startAgentUnderDeno([
      "--source", "test", "--width", "320", "--height", "240", "--fps", "30", "--bitrate", "500", "--source-id", SOURCE_ID,
      "--position-file", file, "--discovery-url", discoveryBase, "--handover-hold", String(HOLD_SECONDS), "--ice-address", "127.0.0.1",
      "--status-file", statusFile,
    ], "agent-handover");
    const registered = JSON.parse(await agent.waitForLine(/"msg":"registered"/, { timeoutMs: 45_000, stream: "stderr" })) as { id: number };
    const idA = registered.id;
    expect((await getJson<{ id: number }[]>(`${mecA.base}${ROUTE.dataflows}?active=true`)).map((d) => d.id)).toEqual([idA]);
    await waitUntil("frames at MEC A", () => mecA.bus.frames(idA).length >= 30, { timeoutMs: 30_000, proc: agent });

    // 1. Wobble: B's tile, A's, B's, … each for 1.2 s (< the 3 s hold) over 9.6 s: several keep-alives.
    const movedBefore = movedLines(agent);
    for (let i = 0; i < 8; i++) {
      put(i % 2 === 0 ? TILE_B : TILE_A);
      await sleep(1200); // the stimulus: the vehicle's position changes at this pace
    }
    await waitUntil("the agent saw the wobble", () => movedLines(agent) - movedBefore >= 6, { timeoutMs: 5_000, proc: agent });
    expect(agent.output("stderr")).not.toContain('"msg":"serving MEC changed"');
    expect(await getJson<unknown[]>(`${mecB.base}${ROUTE.dataflows}`)).toEqual([]);
    expect(mecA.bus.events.filter((e) => e.key === TERMINATE_DATAFLOW)).toEqual([]);
    console.log(`wobble: ${movedLines(agent) - movedBefore} tile changes seen, no handover`);
    // …and counts them in its status (--status-file, written every 10 s).
    const held = await waitUntil("the wobble counted in the agent's status", () => {
      const status = existsSync(statusFile) ? JSON.parse(readFileSync(statusFile, "utf8")) as { tileChangesHeld: number } : undefined;
      return status && status.tileChangesHeld >= 3 ? status.tileChangesHeld : undefined;
    }, { timeoutMs: 15_000, proc: agent });
    console.log(`agent status: tileChangesHeld ${held}`);

    // 2. Into B's tile for good.
    const moved = performance.now();
    put(TILE_B);
    const handed = JSON.parse(await agent.waitForLine(/"msg":"handed over"/, { timeoutMs: 30_000, stream: "stderr" })) as { from: number; to: number; makeBeforeBreak: boolean };
    const handoverMs = performance.now() - moved;
    expect(handed.from).toBe(idA);
    expect(handed.makeBeforeBreak).toBe(true);
    const idB = handed.to;
    await waitUntil("2 s of frames at MEC B", () => mecB.bus.frames(idB).length >= 60, { timeoutMs: 20_000, proc: agent });
    // The proxy announces a session's end 1 s after it unless the agent did: wait past that.
    await waitUntil("A's terminatedataflow", () => mecA.bus.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === idA), { timeoutMs: 10_000, proc: agent });
    const terminatedAt = performance.now();
    await waitUntil("1.5 s past A's terminatedataflow (a second one would have come by then)", () => performance.now() - terminatedAt > 1500, { timeoutMs: 5_000 });

    const atA = mecA.bus.frames(idA);
    const atB = mecB.bus.frames(idB);
    const firstB = atB[0]!;
    const lastA = atA.at(-1)!;
    const overlapFrames = atA.filter((f) => captureTime(f) >= captureTime(firstB)).length;
    // The same picture on both buses has the same capture time (stamped once, before the two
    // pushes), and RTP timestamps that differ by one offset per pair of sessions: with it, every
    // picture of both buses goes on A's RTP timeline, where a missing picture is a step over 3000.
    const rtp = (f: Seen) => Number(f.headers[HEADER.rtpTimestamp]);
    // Two pictures read from gst in one burst (an agent stall) can share a capture time in ms:
    // only capture times that name one picture on each bus pair pictures up.
    const once = (fs: Seen[]) => {
      const count = new Map<number, number>();
      for (const f of fs) count.set(captureTime(f), (count.get(captureTime(f)) ?? 0) + 1);
      return (f: Seen) => count.get(captureTime(f)) === 1;
    };
    const onceA = once(atA), onceB = once(atB);
    const onA = new Map(atA.filter(onceA).map((f) => [captureTime(f), f]));
    const common = atB.filter((f) => onceB(f) && onA.has(captureTime(f)));
    const offsets = new Set(common.map((f) => (rtp(onA.get(captureTime(f))!) - rtp(f)) >>> 0));
    const offset = [...offsets][0] ?? 0;
    const origin = (rtp(firstB) + offset) >>> 0;
    const ticks = [...new Set([...atA.map((f) => (rtp(f) - origin) | 0), ...atB.map((f) => (rtp(f) + offset - origin) | 0)])]
      .sort((a, b) => a - b)
      .filter((t) => t >= -90_000 && t <= ((rtp(lastA) - origin) | 0) + 90_000); // 1 s either side of the overlap
    const missing = ticks.slice(1).reduce((sum, t, i) => sum + Math.round((t - ticks[i]!) / 3000) - 1, 0);
    // Capture times: the agent stamps a picture when it reads it from gst, so an agent stall shows
    // as a capture-time gap with continuous RTP; reported beside the same figure before the move.
    const times = [...new Set([...atA, ...atB].map(captureTime))].sort((a, b) => a - b)
      .filter((t) => t >= captureTime(firstB) - 1000 && t <= captureTime(lastA) + 1000);
    const gap = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    const maxGap = (fs: Seen[]) => Math.max(...fs.slice(1).map((f, i) => captureTime(f) - captureTime(fs[i]!)));
    const bSeqJumps = atB.slice(1).filter((f, i) => Number(f.headers[HEADER.seq]) !== Number(atB[i]!.headers[HEADER.seq]) + 1).length;
    console.log(
      `handover: position moved → handed over ${Math.round(handoverMs)} ms (hold ${HOLD_SECONDS} s + next keep-alive); ` +
        `overlap by capture time ${captureTime(lastA) - captureTime(firstB)} ms (${overlapFrames} pictures on A at or after B's first, ${common.length} matched on both); ` +
        `pictures missing across both buses ${missing} (RTP, 1 s either side of the overlap); ` +
        `largest capture-time gap across both buses ${gap} ms (before the move, on A alone: ${maxGap(atA.filter((f) => f.at < moved))} ms; frame interval ${FRAME_MS.toFixed(1)} ms); ` +
        `arrival: A's last ${Math.round(lastA.at - firstB.at)} ms after B's first; B: ${bSeqJumps} seq jumps`,
    );

    expect(firstB.headers[HEADER.keyframe]).toBe(true);
    for (const f of [...atA, ...atB]) expect(f.headers[HEADER.captureTimeSource]).toBe("sender");
    expect(atA.filter((f) => captureTime(f) > captureTime(firstB)).length).toBeGreaterThanOrEqual(1); // A goes on past B's first picture
    expect(common.length).toBeGreaterThanOrEqual(1);
    expect(lastA.at).toBeGreaterThan(firstB.at);
    expect(offsets.size).toBe(1);
    expect(missing).toBe(0);
    expect(bSeqJumps).toBe(0);
    expect(mecA.bus.events.filter((e) => e.key === TERMINATE_DATAFLOW).map((e) => e.id)).toEqual([idA]);
    expect(mecB.bus.events.filter((e) => e.key === TERMINATE_DATAFLOW)).toEqual([]);
    expect(mecB.bus.events.filter((e) => e.key === NEW_DATAFLOW).map((e) => e.id)).toContain(idB);
    // One vehicle on both buses: the dataflow ids differ, the registered sourceId does not.
    for (const [frames, id] of [[atA, idA], [atB, idB]] as const) {
      expect(new Set(frames.map((f) => f.headers[HEADER.sourceId]))).toEqual(new Set([id]));
      expect(new Set(frames.map((f) => f.headers[HEADER.registeredSourceId]))).toEqual(new Set([SOURCE_ID]));
    }
    // Events carry it too: in their body's metadata (the agent's own, over MQTT, has no headers).
    for (const e of [...mecA.bus.events, ...mecB.bus.events]) expect(e.body?.dataSourceInfo?.sourceId).toBe(SOURCE_ID);
    expect(await getJson<unknown[]>(`${mecA.base}${ROUTE.dataflows}?active=true`)).toEqual([]);
    expect((await getJson<{ id: number }[]>(`${mecB.base}${ROUTE.dataflows}?active=true`)).map((d) => d.id)).toEqual([idB]);
    expect(agent.output("stderr").match(/"msg":"gst started"/g)?.length).toBe(1); // one capture, never restarted
    await agent.stop();
  }, 240_000);
});

function movedLines(agent: Proc): number {
  return agent.output("stderr").match(/"msg":"moved"/g)?.length ?? 0;
}
