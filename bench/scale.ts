// `make bench-scale` (issue #13, "Speed"): streams spread over K = 1 and 2 vsb-proxy processes
// on one PostgreSQL and one RabbitMQ, on this machine. For each K and N, N werift WHIP senders
// (bench/proxy.ts's sender role: the cached 720p30 ~4 Mbit/s capture) are split evenly over
// the K proxies by S sender processes (2 by default, sender i feeding proxy i mod K); after a
// warm-up the window is measured. One JSON line per (K, N): frames in (pictures sent), out
// (confirmed by RabbitMQ), loss, drops, proxy CPU (sum and per stream, % of one core),
// aggregate frames/s out, the senders' and RabbitMQ's CPU, machine busy; then one summary line
// per K: the largest N held at 0 frame loss. N grows until a run loses frames.
//
// Plain HTTP, no auth, no UDP forward: the proxies' own cost of ingest and publish. On a shared
// machine the figures are indicative only.
//
//   bun bench/scale.ts [--k 1,2] [--n 8,16,24,32,40] [--seconds S] [--senders S]   (defaults; 8 s measured, 2 senders)
import { join } from "node:path";
import { freePort, freeUdpPortRange } from "../tests/support/ports.ts";
import { getPostgres, type Postgres } from "../tests/support/postgres.ts";
import { cleanupAll, type Proc, spawnTracked } from "../tests/support/procs.ts";
import { getRabbit, type Rabbit } from "../tests/support/rabbitmq.ts";
import { waitUntil } from "../tests/support/wait.ts";
import { cpuTicks, ensureCapture, groupCpuTicks, machineTicks, senderRole, sumMetric } from "./proxy_roles.ts";

const root = new URL("..", import.meta.url).pathname;
const WARMUP_MS = 3000;

function listOption(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]!.split(",").map(Number) : fallback;
}
const KS = listOption("--k", [1, 2]);
const NS = listOption("--n", [8, 16, 24, 32, 40]);
const MEASURE_MS = listOption("--seconds", [8])[0]! * 1000;
const SENDERS = listOption("--senders", [2])[0]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let runs = 0;

/** K proxies on a fresh database of `pg`. */
async function startProxies(pg: Postgres, amqpUrl: string, k: number): Promise<{ proc: Proc; base: string }[]> {
  const db = `scale_${process.pid}_${++runs}`;
  pg.createDatabase(db);
  return await Promise.all(Array.from({ length: k }, async () => {
    const port = await freePort();
    const ice = await freeUdpPortRange(64);
    const proc = spawnTracked(process.execPath, [
      join(root, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", `postgres://vsb@127.0.0.1:${pg.port}/${db}`,
      "--amqp-url", amqpUrl, "--ice-address", "127.0.0.1", "--ice-ports", `${ice}-${ice + 63}`, "--send-policy", "always", "--log-level", "warn",
    ], { cwd: root, name: `vsb-proxy:${port}`, env: { PGPASSWORD: pg.password } });
    const base = `http://127.0.0.1:${port}`;
    await waitUntil("the proxy ready", async () => (await fetch(`${base}/ready`)).ok, { timeoutMs: 30_000, proc });
    return { proc, base };
  }));
}

async function run(pg: Postgres, rabbit: Rabbit, file: string, k: number, n: number) {
  const amqpUrl = rabbit.amqpUrl;
  const proxies = await startProxies(pg, amqpUrl, k);
  // The same sender processes whatever K (sender i feeds proxy i mod K), so that K = 1 and
  // K = 2 differ only in the proxies; N streams split evenly over the senders.
  const count = Math.max(SENDERS, k);
  const share = (i: number) => Math.floor(n / count) + (i < n % count ? 1 : 0);
  const senders = Array.from({ length: count }, (_, i) => spawnTracked(process.execPath, [import.meta.path, "--sender", proxies[i % k]!.base, String(share(i)), file], { name: `sender-${i}` }));
  const lastLine = (s: Proc) => JSON.parse(s.output("stdout").trim().split("\n").at(-1)!) as { pictures: number; connected: number };
  await Promise.all(senders.map((s) => s.waitForLine(/"pictures"/, { stream: "stdout", timeoutMs: 90_000 })));
  await sleep(WARMUP_MS);
  const metrics = async () => await Promise.all(proxies.map(async (p) => await (await fetch(`${p.base}/metrics`)).text()));
  const published = (texts: string[]) => texts.reduce((sum, t) => sum + sumMetric(t, "vsb_frames_published_total"), 0);
  const m0 = await metrics();
  // Where the CPU went besides the proxies: the senders and RabbitMQ share the machine.
  const others = () => ({ senders: senders.reduce((sum, s) => sum + cpuTicks(s.pid), 0), rabbit: groupCpuTicks(rabbit.pid()!) });
  const p0 = proxies.map((p) => cpuTicks(p.proc.pid)), c0 = machineTicks(), o0 = others();
  await sleep(MEASURE_MS);
  const p1 = proxies.map((p) => cpuTicks(p.proc.pid)), c1 = machineTicks(), o1 = others();
  const m1 = await metrics();
  await Promise.all(senders.map((s) => s.stop()));
  await sleep(1500); // the last frames reach the broker
  const m2 = await metrics();
  const sent = senders.map(lastLine);
  const pictures = sent.reduce((sum, s) => sum + s.pictures, 0);
  const secs = MEASURE_MS / 1000;
  const cpu = proxies.map((_, i) => (p1[i]! - p0[i]!) / secs);
  const out = published(m2);
  const dropped = m2.reduce((sum, t) => sum + sumMetric(t, "vsb_frames_dropped_total"), 0);
  const connected = sent.reduce((sum, s) => sum + s.connected, 0);
  const line = {
    bench: "scale", k, n, measureSeconds: secs, connected,
    framesIn: pictures, framesOut: out, lossPct: +((1 - out / pictures) * 100).toFixed(3), framesDropped: dropped,
    held: connected === n && out >= pictures && dropped === 0,
    framesPerSecondOut: Math.round((published(m1) - published(m0)) / secs),
    proxyCpuPct: cpu.map(Math.round), proxyCpuPctPerStream: +(cpu.reduce((a, b) => a + b, 0) / n).toFixed(2),
    senderCpuPct: Math.round((o1.senders - o0.senders) / secs), rabbitCpuPct: Math.round((o1.rabbit - o0.rabbit) / secs),
    machineBusyPct: Math.round(((c1.busy - c0.busy) / (c1.total - c0.total)) * 100),
  };
  console.log(JSON.stringify(line));
  await Promise.all(proxies.map((p) => p.proc.stop()));
  return line;
}

async function main(): Promise<void> {
  const file = await ensureCapture();
  const [pg, rabbit] = await Promise.all([getPostgres(), getRabbit()]);
  console.error(JSON.stringify({ ks: KS, ns: NS, measureSeconds: MEASURE_MS / 1000, note: "indicative on a shared machine" }));
  for (const k of KS) {
    let held = 0;
    let best: Awaited<ReturnType<typeof run>> | undefined;
    for (const n of NS.filter((x) => x >= k)) {
      const line = await run(pg, rabbit, file, k, n);
      if (!line.held) break;
      held = n;
      best = line;
    }
    console.log(JSON.stringify({
      bench: "scale-summary", k, streamsHeldAtZeroLoss: held, ofTried: NS,
      proxyCpuPctPerStream: best?.proxyCpuPctPerStream ?? null, framesPerSecondOut: best?.framesPerSecondOut ?? null,
    }));
  }
}

if (process.argv[2] === "--sender") await senderRole(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
else {
  try {
    await main();
  } finally {
    await cleanupAll();
  }
  process.exit(0);
}
