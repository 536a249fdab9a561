// A cellular uplink that shrinks, on real parts (issue #15 item 4): the agent SOURCE under the
// pinned Deno (x264, 640×480 at 30 fps, 4000 kbit/s, a keyframe a second) in namespace S pushes
// over WHIP to a real vsb-proxy with its own RabbitMQ in P; its WebRTC datagrams cross a
// user-space shaping relay in R (cellular_peer.ts shaper: token bucket + 64 KB drop-tail queue;
// this kernel has no netem, nor tc actions or nftables). HTTP (registration, WHIP offer) is
// routed by R's kernel, unshaped. The link runs 8 Mbit/s until the stream is up + 10 s,
// 1.5 Mbit/s for 20 s, then 8 Mbit/s for 15 s.
//
//   S 10.203.x.1 ─veth─ 10.203.x.2 R 10.204.x.1 ─veth─ 10.204.x.2 P
//   agent                shaper (sender→proxy)           proxy + RabbitMQ + bus consumer
//
// Bounds, and why: after the first 3 s of the drop (≤ 2 s to notice and switch down, then up to
// a keyframe interval, 1 s, for the switch to take effect) no gap on the bus over 1.3 s (one
// picture a second when the link takes keyframes only; a frozen picture much longer than that is
// what a viewer calls a stall); glass-to-bus (consumer receive −
// the sender's captureTime; one kernel clock) p95 ≤ 1 s over frames captured during the drop;
// first down switch ≤ 2 s after the rate change; from 2 s into the drop to its end, ≥ 75 % of
// the time on a rung ≤ 1500 kbit/s (the rest: probes up, each back down within ~1.5 s); back
// on the top rung ≤ 10 s after the link recovers; the bus bitrate of the last 5 s ≥ 2× that of
// the drop.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CAPTURE_TIME_SOURCE } from "../../shared/mod.ts";
import { hasCommand, hasElements, skipUnless } from "../support/gst.ts";
import { type Proc, sleep, spawnTracked, waitUntil } from "../support/procs.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { denoBinary, startAgentUnderDeno } from "./agent_e2e_harness.ts";
import { adaptFigures, type AdaptStatus, type BusFrame, busKbps, glassToBus, longestGapMs } from "./cellular_figures.ts";
import { createNetns, type Netns, type NetnsSide } from "./netns_harness.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";

const HIGH_BPS = 8_000_000;
const LOW_BPS = 1_500_000;
const TOP_KBPS = 4000;
const PHASE_MS = { before: 10_000, drop: 20_000, after: 15_000 };
/** The shaper's drop-tail queue: 64 KB is 350 ms at 1.5 Mbit/s (VSB_CELLULAR_QUEUE_BYTES to try a deeper buffer). */
const QUEUE_BYTES = Number(process.env.VSB_CELLULAR_QUEUE_BYTES ?? 65_536);
const ICE_PORTS = [41_000, 41_001]; // in the test's own namespaces: no other test's ports there
const PEER = new URL("./cellular_peer.ts", import.meta.url).pathname;
const root = new URL("../..", import.meta.url).pathname;

const parts = process.getuid?.() === 0 && hasRabbit() && denoBinary() !== undefined && hasCommand("chrt") && hasElements(...GST_ELEMENTS, "clockoverlay");
let net: Netns | undefined;
let why = parts ? undefined : "needs root, rabbitmq-server, node_modules/.bin/deno, chrt and GStreamer (x264enc, clockoverlay, …)";
if (parts) {
  try {
    net = createNetns({ prefix: "vcell", subnets: [203, 204] });
  } catch (error) {
    why = `cannot set up its namespaces: ${(error as Error).message}`;
  }
}
const it = skipUnless(net !== undefined, `cellular test: ${why}`);

const procs: Proc[] = [];
const inNs = (side: NetnsSide, name: string, args: string[], options: { stdin?: "pipe"; realtime?: boolean } = {}) => {
  const rt = options.realtime ? ["chrt", "--rr", "10"] : [];
  const [command, ...rest] = net!.exec(side, [...rt, process.execPath, PEER, ...args]);
  const proc = spawnTracked(command!, rest, { cwd: root, name, stdin: options.stdin, keepLines: 1000 });
  procs.push(proc);
  return proc;
};
const jsonLines = (p: Proc) => p.output("stdout").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));

/** What one run of the scripted link produced. */
interface Run {
  dropAt: number;
  recoverAt: number;
  endAt: number;
  frames: BusFrame[];
  relay: { at: number; inBytes: number; outBytes: number; drops: number; droppedBytes: number; maxQueueDelayMs: number; loopLagMs: number }[];
  adaptBeforeDrop: AdaptStatus | undefined;
  adapt: AdaptStatus | undefined;
  status: Record<string, unknown> | undefined;
}
let run: Run | undefined;

function readStatus(file: string): Record<string, unknown> | undefined {
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

/** Tells the shaper its new rate; when it took it (its clock = ours). */
async function setRate(shaper: Proc, bps: number): Promise<number> {
  const sent = Date.now();
  shaper.child.stdin!.write(`rate ${bps}\n`);
  const line = await waitUntil(`the shaper to take rate ${bps}`, () =>
    jsonLines(shaper).find((j) => j.rate === bps && j.listening === undefined && j.at >= sent), { timeoutMs: 5_000, proc: shaper });
  return line.at as number;
}

/** Runs the scenario once: proxy, shaper, agent, the scripted link, then stops them all. */
async function scenario(): Promise<Run> {
  const { addr } = net!;
  const dir = tempDir("vsb-cellular-");
  const out = join(dir.path, "frames.json");
  const statusFile = join(dir.path, "agent-status.json");
  const proxy = inNs("p", "cell-proxy", ["proxy", addr.p, addr.rs, `${ICE_PORTS[0]}-${ICE_PORTS[1]}`, out]);
  const ready = JSON.parse(await proxy.waitForLine(/"ready":true/, { stream: "stdout", timeoutMs: 60_000 }));
  // The shaper plays a link, which does not wait for a CPU. Under load (the agent's three x264
  // rungs, other tests) a normal process stalls for up to ~240 ms here, nice -15 still ~100 ms,
  // and a stall at 4 Mbit/s comes out as a 125 KB burst the queue drops. SCHED_RR (priority 10)
  // keeps it ≤ 1-2 ms; it uses ~5 % of a core, and the kernel's RT throttling caps it anyway.
  const shaper = inNs("r", "cell-shaper", ["shaper", addr.rs, ICE_PORTS.join(","), addr.p, String(HIGH_BPS), String(QUEUE_BYTES)], { stdin: "pipe", realtime: true });
  await shaper.waitForLine(/"listening"/, { stream: "stdout", timeoutMs: 10_000 });
  const agent = startAgentUnderDeno([
    "--source", "test", "--width", "640", "--height", "480", "--fps", "30", "--bitrate", String(TOP_KBPS), "--keyint", "30",
    "--lat", "43.295778", "--lon", "-1.980823", "--registration-url", ready.registrationUrl, "--no-mqtt",
    "--ice-address", addr.s, "--status-file", statusFile,
  ], "cell-agent", { wrap: (argv) => net!.exec("s", argv) });
  procs.push(agent);
  await proxy.waitForLine(/"windowFrames":[1-9]/, { stream: "stdout", timeoutMs: 40_000 });
  await sleep(PHASE_MS.before); // the scripted link: 8 Mbit/s
  const adaptBeforeDrop = readStatus(statusFile)?.adapt as AdaptStatus | undefined;
  const dropAt = await setRate(shaper, LOW_BPS);
  await sleep(dropAt + PHASE_MS.drop - Date.now()); // 1.5 Mbit/s
  const recoverAt = await setRate(shaper, HIGH_BPS);
  await sleep(recoverAt + PHASE_MS.after - Date.now()); // 8 Mbit/s again
  const endAt = Date.now();
  const statusLive = readStatus(statusFile);
  await agent.stop({ graceMs: 5_000 });
  if (process.env.VSB_CELLULAR_AGENT_LOG) writeFileSync(process.env.VSB_CELLULAR_AGENT_LOG, agent.output("stderr"));
  const status = readStatus(statusFile) ?? statusLive;
  const relay = jsonLines(shaper).filter((j) => j.inBytes !== undefined);
  await shaper.stop();
  await proxy.stop({ graceMs: 20_000 }); // writes the frames, then stops its RabbitMQ and epmd
  const frames = JSON.parse(readFileSync(out, "utf8")) as BusFrame[];
  const adapt = (status?.adapt ?? statusLive?.adapt) as AdaptStatus | undefined;
  return { dropAt, recoverAt, endAt, frames, relay, adaptBeforeDrop, adapt, status };
}

function relayOver(r: Run, from: number, to: number) {
  const windows = r.relay.filter((w) => w.at > from && w.at <= to);
  const sum = (key: "inBytes" | "outBytes" | "drops" | "droppedBytes") => windows.reduce((s, w) => s + w[key], 0);
  return {
    inKbps: Math.round((sum("inBytes") * 8) / (to - from)),
    outKbps: Math.round((sum("outBytes") * 8) / (to - from)),
    drops: sum("drops"),
    droppedShare: +(sum("droppedBytes") / Math.max(1, sum("inBytes"))).toFixed(4),
    maxQueueDelayMs: windows.reduce((m, w) => Math.max(m, w.maxQueueDelayMs), 0),
    maxLoopLagMs: windows.reduce((m, w) => Math.max(m, w.loopLagMs), 0),
  };
}

/** Every figure of the run, printed as one JSON line. */
function figures(r: Run) {
  const { dropAt, recoverAt, endAt, frames } = r;
  const start = frames[0]?.rx ?? dropAt - PHASE_MS.before;
  return {
    link: { highBps: HIGH_BPS, lowBps: LOW_BPS, queueBytes: QUEUE_BYTES, dropMs: recoverAt - dropAt, afterMs: endAt - recoverAt },
    relay: {
      before: relayOver(r, start + 1000, dropAt),
      drop: relayOver(r, dropAt, recoverAt),
      after: relayOver(r, recoverAt, endAt),
    },
    bus: {
      frames: frames.length,
      senderStamped: frames.filter((f) => f.source === CAPTURE_TIME_SOURCE.sender).length,
      beforeKbps: busKbps(frames, dropAt - 5000, dropAt),
      dropKbps: busKbps(frames, dropAt, recoverAt),
      last5sKbps: busKbps(frames, endAt - 5000, endAt),
      dropFrames: frames.filter((f) => f.rx >= dropAt && f.rx < recoverAt).length,
      longestGapDropAfter3sMs: longestGapMs(frames, dropAt + 3000, recoverAt),
      longestGapDropMs: longestGapMs(frames, dropAt, recoverAt),
    },
    glassToBus: {
      before: glassToBus(frames, dropAt - 5000, dropAt),
      drop: glassToBus(frames, dropAt, recoverAt),
      after: glassToBus(frames, recoverAt + 10_000, endAt),
    },
    agent: {
      adaptBeforeDrop: r.adaptBeforeDrop ? { rung: r.adaptBeforeDrop.rung, rungKbps: r.adaptBeforeDrop.rungKbps } : null,
      ...adaptFigures(r.adapt, { dropAt, recoverAt, topKbps: TOP_KBPS, lowKbps: LOW_BPS / 1000 }),
      switches: r.adapt?.switches.map((s) => ({ afterDropMs: Date.parse(s.at) - dropAt, from: s.fromKbps, to: s.toKbps, reason: s.reason })) ?? null,
      adapt: r.adapt ? { ...r.adapt, switches: undefined } : null,
      bitrateKbps: r.status?.bitrateKbps ?? null,
    },
  };
}
let figs: ReturnType<typeof figures> | undefined;

describe("cellular uplink 8 → 1.5 → 8 Mbit/s (shaping relay in network namespaces)", () => {
  beforeAll(async () => {
    if (!net) return;
    run = await scenario();
    figs = figures(run);
    console.log(JSON.stringify({ cellular: figs }));
    // The whole run (every frame, every 250 ms of the shaper, the status) for a closer look.
    if (process.env.VSB_CELLULAR_DUMP) writeFileSync(process.env.VSB_CELLULAR_DUMP, JSON.stringify(run));
  }, 120_000);
  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    net?.remove();
  }, 60_000);

  it("the shaper passes the 4 Mbit/s stream at 8 Mbit/s (≤ 1 % of bytes dropped) and holds it to 1.5 Mbit/s during the drop", () => {
    const f = figs!;
    expect(f.bus.frames).toBeGreaterThan(PHASE_MS.before / 1000 * 30 * 0.8);
    expect(f.bus.senderStamped).toBeGreaterThanOrEqual(f.bus.frames * 0.99); // glass-to-bus is the sender's clock
    // At 8 Mbit/s the link is no bottleneck: ≤ 1 % of the bytes dropped. Not 0: under load the
    // agent may stall and then send a burst larger than queue + bucket (80 KB), which a real
    // 64 KB buffer drops too (seen: 7 datagrams in 9 s, 0.2 %).
    expect(f.relay.before.droppedShare).toBeLessThanOrEqual(0.01);
    expect(f.relay.before.outKbps).toBeGreaterThan(TOP_KBPS * 0.7);
    expect(f.relay.drop.drops).toBeGreaterThan(0); // the link did shrink under the stream
    expect(f.relay.drop.outKbps).toBeLessThanOrEqual((LOW_BPS / 1000) * 1.03);
  });

  it("frames keep flowing during the drop (no gap > 1.3 s after its first 3 s) and glass-to-bus p95 ≤ 1 s", () => {
    const f = figs!;
    // Keyframes only (a link below the lowest rung) sends one picture per --keyint (1 s here).
    expect(f.bus.longestGapDropAfter3sMs).toBeLessThanOrEqual(1300);
    expect(f.glassToBus.drop.n).toBeGreaterThan((PHASE_MS.drop / 1000) * 30 * 0.5);
    expect(f.glassToBus.drop.p95!).toBeLessThanOrEqual(1000);
  });

  it("the agent's ladder steps down within 2 s, stays ≤ 1500 kbit/s in the drop but for its probes, is back on top within 10 s; the bus bitrate recovers ≥ 2×", () => {
    const f = figs!;
    expect(f.agent.adapt).not.toBeNull(); // the status file has `adapt`
    expect(f.agent.adaptBeforeDrop?.rungKbps).toBe(TOP_KBPS);
    expect(f.agent.firstDownAfterMs).not.toBeNull();
    expect(f.agent.firstDownAfterMs!).toBeLessThanOrEqual(2000);
    // Probing up is how it finds out the link came back: ≥ 75 % of the drop on a rung that fits it.
    expect(f.agent.lowShareInDrop!).toBeGreaterThanOrEqual(0.75);
    expect(f.agent.backToTopAfterMs).not.toBeNull();
    expect(f.agent.backToTopAfterMs!).toBeLessThanOrEqual(10_000);
    expect(f.agent.finalKbps).toBe(TOP_KBPS);
    expect(f.bus.last5sKbps).toBeGreaterThanOrEqual(2 * f.bus.dropKbps);
  });
});
