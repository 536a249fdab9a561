// `make bench-proxy` (issue 5, "Speed and memory"): N werift WHIP senders (agent/push) replay a
// pre-encoded 1280x720 30 fps ~4 Mbit/s RTP capture (made once by gst, cached in .tmp/bench)
// into ONE real `bun proxy/main.ts` with a real RabbitMQ, for N = 1, 4, 8, 16, 32. One JSON line
// per N: proxy CPU % of one core (/proc), RSS (at the end, and median/max of 250 ms samples over the window), frames in (pictures sent) and out (confirmed by
// RabbitMQ, and consumed), loss, seq gaps seen by an AMQP consumer, first-packet → broker-confirm
// latency p50/p99 (the proxy's histogram), and first-packet → consumer p50/p99. The proxy's UDP
// forward feeds one `gst-launch-1.0 udpsrc ! rtph264depay ! h264parse ! fakesink` per stream (the
// legacy pipelines, fed the same packets in the same run); ratio = proxy CPU per stream ÷ gst CPU
// per stream. The proxy runs with the tuning systemd/vsb-proxy.service gives it (Nice=, BUN_JSC_*).
//
// The proxy serves HTTPS with API tokens, as deployed; --plain runs it on plain HTTP without auth;
// --cluster puts a 3-node RabbitMQ cluster under it (consumer on another node than the proxy's).
//
//   bun bench/proxy.ts [N ...] [--seconds S] [--plain] [--cluster] (defaults: 1 4 8 16 32, 10 s measured)
//   VSB_BENCH_PROFILE=DIR bun bench/proxy.ts 16       (also writes the proxy's CPU profile to DIR)
//   VSB_BENCH_BUN_FLAGS=--smol bun bench/proxy.ts     (the proxy under other bun flags)
//   VSB_BENCH_TWCC=1 bun bench/proxy.ts 8            (senders offer transport-cc: the proxy sends TWCC feedback)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import amqp from "amqplib";
import { HEADER, VIDEO_EXCHANGE, videoBindingPattern } from "../shared/mod.ts";
import { freePort, freeUdpPortRange } from "../tests/support/ports.ts";
import { cleanupAll, spawnTracked } from "../tests/support/procs.ts";
import { getRabbit } from "../tests/support/rabbitmq.ts";
import { startRabbitCluster } from "../tests/support/rabbitmq_cluster.ts";
import { tempDir } from "../tests/support/temp_dir.ts";
import { makeTestPki } from "../tests/support/test_ca.ts";
import { waitUntil } from "../tests/support/wait.ts";
import { buckets, cpuTicks, maxBucketMs, sysTicks, ensureCapture, groupCpuTicks, machineTicks, pictures, quantileMs, rssMb, senderRole, sumMetric } from "./proxy_roles.ts";

const root = new URL("..", import.meta.url).pathname;
const WARMUP_MS = 3000;
const LATENCY = "vsb_frame_receive_to_confirm_seconds";
const LAG = "vsb_event_loop_lag_seconds";

const args = process.argv.slice(2);
const secondsAt = args.indexOf("--seconds");
const MEASURE_MS = (secondsAt >= 0 ? Number(args.splice(secondsAt, 2)[1]) : 10) * 1000;
// As a production MEC runs: HTTPS (a certificate made by openssl for the run) and API tokens
// (the senders register with a sensor token); --plain for plain HTTP without auth.
const plainAt = args.indexOf("--plain");
const PLAIN = plainAt >= 0 && args.splice(plainAt, 1).length > 0;
// --cluster: a 3-node RabbitMQ cluster under the proxy (given all three nodes, connected to the
// first) and the counting consumer on node 3, so every frame crosses the cluster once.
const clusterAt = args.indexOf("--cluster");
const CLUSTER = clusterAt >= 0 && args.splice(clusterAt, 1).length > 0;

/** Where the proxy publishes and the counter consumes, and the broker processes to measure. */
interface Broker {
  amqpUrls: string[];
  consumerUrl: string;
  pids(): number[];
}
const SENSOR_TOKEN = "bench-proxy-sensor-0123456789";
const OPERATOR_TOKEN = "bench-proxy-operator-0123456789";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The runtime tuning vsb-proxy.service gives the proxy (its BUN_JSC_* Environment= lines and
 * Nice=), so the bench measures the proxy as deployed; the caller's own BUN_JSC_* win. */
const UNIT = readFileSync(join(root, "systemd/vsb-proxy.service"), "utf8");
function unitRuntimeEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of UNIT.matchAll(/^Environment=(BUN_JSC_\w+)=(\S+)$/gm)) env[m[1]!] = process.env[m[1]!] ?? m[2]!;
  return env;
}
const PROXY_ENV = unitRuntimeEnv();
const PROXY_NICE = Number(/^Nice=(-?\d+)$/m.exec(UNIT)?.[1] ?? 0);

/** The legacy pipelines: one `udpsrc ! rtph264depay ! h264parse ! fakesink` per forward port. */
function startGst(base: number, n: number) {
  return Array.from({ length: n }, (_, k) => spawnTracked("gst-launch-1.0", [
    "-q", "udpsrc", "address=127.0.0.1", `port=${base + k}`, "buffer-size=4194304",
    "caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96", "!",
    "rtph264depay", "!", "h264parse", "!", "fakesink", "sync=false",
  ], { name: `gst-${k}` }));
}

/** Counts frames per dataflow, seq gaps and first-packet → delivery latency. */
async function frameCounter(amqpUrl: string) {
  const model = await amqp.connect(amqpUrl);
  const channel = await model.createChannel();
  await channel.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const { queue } = await channel.assertQueue("", { exclusive: true, arguments: { "x-max-length": 100_000 } });
  await channel.bindQueue(queue, VIDEO_EXCHANGE, videoBindingPattern("*"));
  const last = new Map<number, number>();
  const state = { frames: 0, gaps: 0, measuring: false, latencies: [] as number[] };
  await channel.consume(queue, (m) => {
    if (!m) return;
    const h = m.properties.headers ?? {};
    const id = Number(h[HEADER.sourceId]);
    const seq = Number(h[HEADER.seq]);
    const prev = last.get(id);
    if (prev !== undefined && seq !== prev + 1) state.gaps++;
    last.set(id, seq);
    state.frames++;
    if (state.measuring) state.latencies.push(Date.now() - Number(h[HEADER.receiveTime]));
  }, { noAck: true });
  return { state, close: () => model.close().catch(() => undefined) };
}

function brokerTicks(broker: Broker): number {
  return broker.pids().reduce((sum, pid) => sum + groupCpuTicks(pid), 0);
}

function gstTicks(gsts: { pid: number }[]): number {
  return gsts.reduce((sum, g) => sum + cpuTicks(g.pid), 0);
}

function percentile(sorted: number[], q: number): number | null {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null;
}

async function runN(n: number, file: string, broker: Broker): Promise<void> {
  const amqpUrl = broker.amqpUrls.join(",");
  const dir = tempDir("vsb-bench-proxy-");
  const port = await freePort();
  const pki = PLAIN ? undefined : makeTestPki("vsb-bench-proxy-pki-");
  const udp = await freeUdpPortRange(n);
  const gsts = startGst(udp, n);
  // VSB_BENCH_PROFILE=DIR writes the proxy's CPU profile (markdown) there when it stops.
  const profile = process.env.VSB_BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.VSB_BENCH_PROFILE}`] : [];
  // VSB_BENCH_BUN_FLAGS="--smol" runs the proxy with other bun flags.
  profile.push(...(process.env.VSB_BENCH_BUN_FLAGS ?? "").split(" ").filter(Boolean));
  // Under nice(1), so every thread of the proxy starts at the unit's priority.
  const proxy = spawnTracked("nice", [
    "-n", String(PROXY_NICE), process.execPath, ...profile, join(root, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", join(dir.path, "vsb.db"), "--amqp-url", amqpUrl,
    "--ice-address", "127.0.0.1", "--send-policy", "always", "--log-level", "warn",
    "--udp-forward", "all", "--udp-forward-host", "127.0.0.1", "--udp-ports", `${udp}-${udp + n - 1}`,
    ...(pki ? ["--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile, "--api-token", `sensor:${SENSOR_TOKEN}`, "--api-token", `operator:${OPERATOR_TOKEN}`] : []),
  ], { cwd: root, name: "vsb-proxy", env: PROXY_ENV });
  const base = `${pki ? "https" : "http"}://127.0.0.1:${port}`;
  const init = (pki ? { tls: { ca: pki.ca.certPem() }, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } } : {}) as RequestInit;
  await waitUntil("the proxy ready", async () => (await fetch(`${base}/ready`, init)).ok, { timeoutMs: 20_000, proc: proxy });
  const counter = await frameCounter(broker.consumerUrl);
  const sender = spawnTracked(process.execPath, [import.meta.path, "--sender", base, String(n), file], {
    name: "bench-sender", env: { ...process.env, ...(pki ? { VSB_BENCH_CA_FILE: pki.ca.certFile, VSB_BENCH_TOKEN: SENSOR_TOKEN } : {}) },
  });
  const senderLine = () => JSON.parse(sender.output("stdout").trim().split("\n").at(-1)!) as { pictures: number; packets: number; connected: number; twccFeedbacks: number };
  await sender.waitForLine(/"pictures"/, { stream: "stdout", timeoutMs: 60_000 });
  await sleep(WARMUP_MS);
  const metrics = async () => await (await fetch(`${base}/metrics`, init)).text();
  const m0 = await metrics();
  const k0 = sysTicks(proxy.pid), p0 = cpuTicks(proxy.pid), s0 = cpuTicks(sender.pid), r0 = brokerTicks(broker), c0 = machineTicks(), g0 = gstTicks(gsts);
  counter.state.measuring = true;
  // RSS every 250 ms over the window: the end sample alone swings with where the GC is.
  const rssSamples: number[] = [];
  const sampler = setInterval(() => rssSamples.push(rssMb(proxy.pid)), 250);
  await sleep(MEASURE_MS);
  clearInterval(sampler);
  counter.state.measuring = false;
  const k1 = sysTicks(proxy.pid), p1 = cpuTicks(proxy.pid), s1 = cpuTicks(sender.pid), r1 = brokerTicks(broker), c1 = machineTicks(), g1 = gstTicks(gsts);
  const m1 = await metrics();
  const rss = rssMb(proxy.pid);
  await sender.stop();
  await sleep(1500); // the last frames reach the broker and the consumer
  const m2 = await metrics();
  const sent = senderLine();
  const secs = MEASURE_MS / 1000;
  const proxyCpu = (p1 - p0) / secs;
  const gstPerStream = (g1 - g0) / secs / n;
  const published = sumMetric(m2, "vsb_frames_published_total");
  const lat = counter.state.latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    n,
    tlsAndAuth: !PLAIN,
    brokerNodes: broker.amqpUrls.length,
    proxyCpuPct: Math.round(proxyCpu),
    proxyCpuPctPerStream: +(proxyCpu / n).toFixed(2),
    proxySysPct: Math.round((k1 - k0) / secs),
    gstCpuPctPerStream: +gstPerStream.toFixed(2),
    ratio: +(proxyCpu / n / gstPerStream).toFixed(2),
    proxyRssMb: rss,
    proxyRssMbWindow: { median: percentile(rssSamples.sort((a, b) => a - b), 0.5), max: rssSamples.at(-1) ?? null },
    proxyHeapUsedMb: Math.round(sumMetric(m1, "vsb_process_memory_bytes", 'kind="heapUsed"') / 2 ** 20),
    proxyArrayBuffersMb: Math.round(sumMetric(m1, "vsb_process_memory_bytes", 'kind="arrayBuffers"') / 2 ** 20),
    senderCpuPct: Math.round((s1 - s0) / secs),
    rabbitCpuPct: Math.round((r1 - r0) / secs),
    machineBusyPct: Math.round(((c1.busy - c0.busy) / (c1.total - c0.total)) * 100),
    mbitPerStream: +((sumMetric(m1, "vsb_whip_rtp_bytes_total") - sumMetric(m0, "vsb_whip_rtp_bytes_total")) * 8 / secs / n / 1e6).toFixed(2),
    framesIn: sent.pictures,
    framesAssembled: sumMetric(m2, "vsb_frames_assembled_total"),
    framesOut: published,
    framesConsumed: counter.state.frames,
    lossPct: +((1 - published / sent.pictures) * 100).toFixed(3),
    framesDropped: sumMetric(m2, "vsb_frames_dropped_total"),
    seqGaps: counter.state.gaps,
    nackedSeqs: sumMetric(m2, "vsb_whip_nacked_seqs_total"),
    publishLatencyMs: { p50: quantileMs(buckets(m0, LATENCY), buckets(m1, LATENCY), 0.5), p99: quantileMs(buckets(m0, LATENCY), buckets(m1, LATENCY), 0.99) },
    consumerLatencyMs: { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) },
    eventLoopLagMs: { p99: quantileMs(buckets(m0, LAG), buckets(m1, LAG), 0.99), max: maxBucketMs(buckets(m0, LAG), buckets(m1, LAG)) },
    connected: sent.connected,
    twccFeedbacks: sent.twccFeedbacks,
  }));
  await counter.close();
  await proxy.stop();
  await Promise.all(gsts.map((g) => g.stop()));
  dir.remove();
  pki?.remove();
}

async function main(): Promise<void> {
  const ns = args.length ? args.map(Number) : [1, 4, 8, 16, 32];
  const file = await ensureCapture();
  let broker: Broker;
  if (CLUSTER) {
    const cluster = await startRabbitCluster(3);
    broker = { amqpUrls: cluster.amqpUrls, consumerUrl: cluster.amqpUrls[2]!, pids: () => cluster.nodes.map((r) => r.pid()!) };
  } else {
    const rabbit = await getRabbit();
    broker = { amqpUrls: [rabbit.amqpUrl], consumerUrl: rabbit.amqpUrl, pids: () => [rabbit.pid()!] };
  }
  console.error(JSON.stringify({ capture: file, pictures: pictures(file).length, measureSeconds: MEASURE_MS / 1000, proxyEnv: PROXY_ENV, proxyNice: PROXY_NICE }));
  for (const n of ns) await runN(n, file, broker);
}

if (args[0] === "--sender") await senderRole(args[1]!, Number(args[2]), args[3]!);
else {
  try {
    await main();
  } finally {
    await cleanupAll();
  }
  process.exit(0);
}
