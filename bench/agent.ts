// `make bench-agent`: the BUILT agent binary (1280x720 30 fps test source) against a real
// proxy and RabbitMQ. First 10 demand→first-frame-on-the-bus trials (MQTT control path),
// then 60 s of streaming. Prints one JSON line: agent CPU % of one core (the agent process
// only; from /proc) and its gst child's (the encoders: with uplink adaptation on, the default
// `--ladder auto`, one x264 per rung), agent RSS, packets/s and frames/s, packets lost
// between the gst child and the proxy, demand→first frame p50/max.
//
// Packet loss over the streaming session: packets the agent read from its gst child (status
// `packets`) minus the distinct packets the proxy received (its WHIP packet counter minus
// the duplicates its jitter buffer dropped: werift resends NACKed packets as RTX, and the
// proxy counts a resent packet again). Signed: a negative value means the proxy counted
// more than the child wrote, which is a counting bug to look at, not zero loss. The loss is
// split into packets never handed to WebRTC (held before the session connected beyond the
// replayed GOP, or before a restarted source's keyframe) and packets lost on the way.
//
//   bun bench/agent.ts [--seconds S] [--trials N] [--width W --height H --fps F --bitrate KBPS] [--ladder auto|off|KBPS,…]
//   (a short run: --seconds 5 --trials 1)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, sleep, waitUntil } from "../tests/support/procs.ts";
import { getRabbit } from "../tests/support/rabbitmq.ts";
import {
  agentArgs,
  demand,
  emptyDir,
  registeredId,
  startAgent,
  startProxyUnderTest,
  watchBus,
  withdraw,
} from "../tests/e2e/agent_e2e_harness.ts";

if (process.argv.includes("--help")) {
  console.log("usage: bun bench/agent.ts [--seconds S=60] [--trials N=10] [--width W=1280 --height H=720 --fps F=30 --bitrate KBPS=2000] [--ladder auto|off|KBPS,…=auto]");
  process.exit(0);
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const seconds = option("--seconds", 60);
const trials = option("--trials", 10);
const width = option("--width", 1280);
const height = option("--height", 720);
const fps = option("--fps", 30);
const bitrate = option("--bitrate", 2000); // the agent's default
const ladderAt = process.argv.indexOf("--ladder");
const ladder = ladderAt > 0 ? process.argv[ladderAt + 1]! : "auto"; // the agent's default
const TICKS = 100; // USER_HZ on Linux

/** The agent's child processes (its gst-launch-1.0). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // the process is gone: no children to count
  }
}

/** utime + stime of `pid` itself (children not included), in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sum of a Prometheus counter over all its series. */
async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

/** The proxy's WHIP packet counter, what its jitter buffer saw twice, and the gaps RTX filled. */
async function proxyCounts(base: string): Promise<{ received: number; duplicates: number; recovered: number }> {
  return {
    received: await metric(base, "vsb_whip_rtp_packets_total"),
    duplicates: await metric(base, 'vsb_rtp_packets_dropped_total{reason="duplicate"}'),
    recovered: await metric(base, "vsb_rtp_packets_recovered_total"),
  };
}

/** Packets the agent read from its gst child, and those it handed to WebRTC (status file). */
function agentCounts(statusFile: string): { read: number; sent: number } {
  const status = JSON.parse(readFileSync(statusFile, "utf8"));
  return { read: status.packets as number, sent: status.packetsSent as number };
}

async function main() {
  const rabbit = await getRabbit();
  const proxy = await startProxyUnderTest(rabbit, 5);
  const bus = await watchBus(rabbit.amqpUrl);
  const statusFile = join(emptyDir("vsb-bench-agent-"), "status.json");
  const agent = startAgent(agentArgs(proxy, rabbit.mqttUrl, [
    "--width", String(width), "--height", String(height), "--fps", String(fps), "--bitrate", String(bitrate), "--ladder", ladder, "--status-file", statusFile,
  ]));
  const id = await registeredId(agent);
  await agent.waitForLine(/"msg":"mqtt connected"/, { stream: "stderr" });

  const firstFrameMs: number[] = [];
  for (let i = 0; i < trials; i++) {
    const before = bus.framesOf(id).length;
    const asked = performance.now();
    const lease = await demand(proxy, id);
    await waitUntil("first frame", () => bus.framesOf(id).length > before, { timeoutMs: 15_000, proc: agent, intervalMs: 5 });
    firstFrameMs.push(bus.framesOf(id)[before]! - asked);
    await withdraw(proxy, lease);
    await waitUntil("agent idle", () => JSON.parse(readFileSync(statusFile, "utf8")).state === "idle", { timeoutMs: 15_000, intervalMs: 20 });
    await sleep(300);
  }

  const before = { ...(await proxyCounts(proxy.base)), ...agentCounts(statusFile) };
  const lease = await demand(proxy, id, 600);
  await waitUntil("streaming", () => JSON.parse(readFileSync(statusFile, "utf8")).state === "streaming", { timeoutMs: 15_000 });
  await sleep(3000); // warm-up
  const framesAtStart = bus.framesOf(id).length;
  const windowPackets0 = await metric(proxy.base, "vsb_whip_rtp_packets_total");
  const ticks0 = cpuTicks(agent.pid);
  const gst = childrenOf(agent.pid);
  const gstTicks0 = gst.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const t0 = performance.now();
  let rssMax = 0;
  while (performance.now() - t0 < seconds * 1000) {
    rssMax = Math.max(rssMax, rssMb(agent.pid));
    await sleep(1000);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = ((cpuTicks(agent.pid) - ticks0) / TICKS / elapsed) * 100;
  const gstCpu = ((gst.reduce((sum, pid) => sum + cpuTicks(pid), 0) - gstTicks0) / TICKS / elapsed) * 100;
  const framesPerSecond = (bus.framesOf(id).length - framesAtStart) / elapsed;
  const packetsPerSecond = ((await metric(proxy.base, "vsb_whip_rtp_packets_total")) - windowPackets0) / elapsed;
  await withdraw(proxy, lease);
  await waitUntil("agent idle", () => JSON.parse(readFileSync(statusFile, "utf8")).state === "idle", { timeoutMs: 15_000 });
  await sleep(1000);
  const status = JSON.parse(readFileSync(statusFile, "utf8"));
  const after = { ...(await proxyCounts(proxy.base)), ...agentCounts(statusFile) };
  const read = after.read - before.read;
  const sent = after.sent - before.sent;
  const received = after.received - before.received;
  const duplicates = after.duplicates - before.duplicates;
  const distinct = received - duplicates;
  console.log(JSON.stringify({
    bench: "agent",
    source: `test ${width}x${height}@${fps} ${bitrate} kbit/s`,
    ladder,
    seconds: Math.round(elapsed),
    agentCpuPercentOfOneCore: Math.round(cpu * 100) / 100,
    gstCpuPercentOfOneCore: Math.round(gstCpu * 100) / 100,
    adapt: { mode: status.adapt?.mode, rungKbps: status.adapt?.rungKbps, switchesDown: status.adapt?.switchesDown, switchesUp: status.adapt?.switchesUp },
    agentRssMb: Math.round(rssMax),
    packetsPerSecond: Math.round(packetsPerSecond),
    framesPerSecondOnBus: Math.round(framesPerSecond * 10) / 10,
    packetsReadFromChild: read,
    packetsHandedToWebRtc: sent,
    packetsReceivedByProxy: received,
    duplicatesAtProxy: duplicates,
    recoveredByRtxAtProxy: after.recovered - before.recovered,
    packetsLost: read - distinct,
    packetsLostBeforeWebRtc: read - sent,
    packetsLostInTransit: sent - distinct,
    demandToFirstFrameMs: firstFrameMs.length === 0 ? null : {
      p50: Math.round(percentile(firstFrameMs, 50)),
      max: Math.round(Math.max(...firstFrameMs)),
      trials: firstFrameMs.map(Math.round),
    },
    agentRestarts: status.restarts,
  }));
  await agent.stop();
  await proxy.stop();
}

try {
  await main();
} finally {
  await cleanupAll();
}
