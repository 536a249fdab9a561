// `make bench-api`: a real RabbitMQ and the proxy as its own process; register 1,000
// dataflows, then hammer keep-alives from a separate load process for 10 s. Prints one
// JSON line: requests/s, p50/p99 latency, proxy CPU % (of one core, from /proc) and RSS.
//
// It runs the load twice: saturated (as fast as answers come), then paced at --rate.
// As a production MEC runs: sensor token and HTTPS (a certificate made by openssl for the run);
// --plain measures plain HTTP instead, for comparison.
//
// --profile DIR writes the proxy's CPU profile (Bun's --cpu-prof-md, a grep-friendly markdown) there.
// --replicas K runs K proxies on one PostgreSQL (a real one, tests/support/postgres.ts) instead of
// one on SQLite; the load is split over them (one load process per replica, C/K connections and
// R/K requests/s each), as a load balancer in front would; figures are summed, p99 is the worst.
//
//   bun bench/api.ts [--dataflows N] [--seconds S] [--concurrency C] [--rate R] [--plain] [--profile DIR] [--replicas K]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROUTE } from "../shared/mod.ts";
import { makeTestPki } from "../tests/support/test_ca.ts";
import { sensor2022 } from "../tests/proxy/sensor_body.ts";
import { freePort } from "../tests/support/ports.ts";
import { cleanupAll, spawnTracked } from "../tests/support/procs.ts";
import { getPostgres } from "../tests/support/postgres.ts";
import { getRabbit } from "../tests/support/rabbitmq.ts";
import { waitUntil } from "../tests/support/wait.ts";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const dataflows = option("--dataflows", 1000);
const seconds = option("--seconds", 10);
const concurrency = option("--concurrency", 64);
const rate = option("--rate", 10_000);
const tls = !process.argv.includes("--plain");
const replicas = option("--replicas", 0);
const profileAt = process.argv.indexOf("--profile");
const profileDir = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const profileArgs = profileDir ? ["--cpu-prof-md", `--cpu-prof-dir=${profileDir}`] : [];
const root = new URL("..", import.meta.url).pathname;
// With a sensor token, as a production MEC runs: every keep-alive pays for the bearer check and
// the owner check (one sensor identity holds them all, so the per-sensor limit is lifted).
const token = "bench-api-token-0123456789abcdef";
const bun = process.execPath;
const TICKS = 100; // USER_HZ on Linux

/** VSB_BENCH_PIN=1: the proxy on core 1, the load on core 0 (taskset), so that neither takes the other's core. */
function pinned(core: string, args: string[]): [string, string[]] {
  return process.env.VSB_BENCH_PIN === "1" ? ["taskset", ["-c", core, bun, ...args]] : [bun, args];
}

/** utime + stime of `pid` in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident set size of `pid` in MB. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** One run of the load: one process per proxy in `targets` (ids FIRST..LAST); summed figures plus the proxies' CPU and RSS. */
async function runLoad(targets: { pid: number; base: string }[], ids: [number, number], paceRate: number, caFile?: string) {
  const cpuBefore = targets.map((t) => cpuTicks(t.pid));
  const t0 = performance.now();
  let rssPeak = 0;
  const sample = () => (rssPeak = Math.max(rssPeak, targets.reduce((sum, t) => sum + rssMb(t.pid), 0)));
  const sampler = setInterval(sample, 250);
  const k = targets.length;
  const loads = targets.map((t, i) => spawnTracked(...pinned("0", [join(root, "bench/keepalive_load.ts"), t.base, String(ids[0]), String(ids[1]), String(seconds),
    String(Math.max(1, Math.round(concurrency / k))), token, String(paceRate / k)]), { cwd: root, name: `load-${i}`, env: { ...process.env, VSB_BENCH_CA_FILE: caFile } }));
  const statuses = await Promise.all(loads.map((l) => l.exited));
  clearInterval(sampler);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = targets.map((t, i) => ((cpuTicks(t.pid) - cpuBefore[i]!) / TICKS) / elapsed * 100);
  statuses.forEach((status, i) => {
    if (status.code !== 0) throw new Error(`load generator failed: ${loads[i]!.output("stderr")}`);
  });
  const rs = loads.map((l) => JSON.parse(l.output("stdout").trim().split("\n").at(-1)!));
  const sum = (key: string) => rs.reduce((a, r) => a + Number(r[key]), 0);
  const worst = (key: string) => Math.max(...rs.map((r) => Number(r[key])));
  return {
    seconds: rs[0].seconds, requestsPerSecond: Math.round(sum("rps")), requests: sum("requests"), errors: sum("errors"),
    p50Ms: worst("p50Ms"), p99Ms: worst("p99Ms"), maxMs: worst("maxMs"),
    proxyCpuPercent: Math.round(cpu.reduce((a, b) => a + b, 0)), ...(k > 1 ? { proxyCpuPercentEach: cpu.map(Math.round) } : {}),
    proxyRssMb: Math.round(rssPeak),
  };
}

const dir = mkdtempSync(join(tmpdir(), "vsb-bench-api-"));
const pki = tls ? makeTestPki("vsb-bench-api-pki-") : undefined;
try {
  const rabbit = await getRabbit();
  const pg = replicas > 0 ? await getPostgres() : undefined;
  const dbName = `bench_api_${process.pid}`;
  if (pg) pg.createDatabase(dbName);
  const db = pg ? `postgres://vsb@127.0.0.1:${pg.port}/${dbName}` : join(dir, "bench.db");
  const tlsArgs = pki ? ["--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile] : [];
  const fetchInit = pki ? { tls: { ca: pki.ca.certPem() } } : {};
  const targets = await Promise.all(Array.from({ length: Math.max(1, replicas) }, async (_, i) => {
    const port = await freePort();
    const base = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
    const proxy = spawnTracked(...pinned("1", [...profileArgs, join(root, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", db,
      "--amqp-url", rabbit.amqpUrl, "--keepalive-seconds", "60", "--log-level", "warn", "--api-token", `sensor:${token}`,
      "--max-dataflows-per-sensor", String(dataflows), ...tlsArgs]), { cwd: root, name: `vsb-proxy-${i}`, env: pg ? { PGPASSWORD: pg.password } : {} });
    await waitUntil("the proxy ready", async () => (await fetch(`${base}${ROUTE.ready}`, fetchInit as RequestInit)).ok, { timeoutMs: 30_000, proc: proxy });
    return { pid: proxy.pid, base, proxy };
  }));

  const body = JSON.stringify(sensor2022());
  let registered = 0;
  const ids: number[] = [];
  await Promise.all(Array.from({ length: 32 }, async (_, worker) => {
    while (registered < dataflows) {
      registered++;
      const res = await fetch(`${targets[worker % targets.length]!.base}${ROUTE.dataflows}`, { ...fetchInit, method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body } as RequestInit);
      if (res.status !== 201) throw new Error(`registration answered "${res.status}": ${await res.text()}`);
      ids.push(((await res.json()) as { id: number }).id);
    }
  }));
  const range: [number, number] = [Math.min(...ids), Math.max(...ids)];
  if (range[1] - range[0] + 1 !== dataflows) throw new Error(`dataflow ids ${range[0]}..${range[1]} are not ${dataflows} in a row`);

  const saturated = await runLoad(targets, range, 0, pki?.ca.certFile);
  const paced = await runLoad(targets, range, rate, pki?.ca.certFile);
  await Promise.all(targets.map((t) => t.proxy.stop()));
  process.stdout.write(`${JSON.stringify({
    bench: "api-keepalive", store: pg ? "postgres" : "sqlite", replicas: targets.length, dataflows, concurrency, apiToken: "sensor", tls, ...saturated,
    [`at${rate}PerSecond`]: paced, target: { requestsPerSecond: 10_000, p99Ms: replicas > 1 ? 10 : 5 },
  })}\n`);
} finally {
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
  pki?.remove();
}
