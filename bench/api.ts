// `make bench-api`: a real RabbitMQ and the proxy as its own process; register 1,000
// dataflows, then hammer keep-alives from a separate load process for 10 s. Prints one
// JSON line: requests/s, p50/p99 latency, proxy CPU % (of one core, from /proc) and RSS.
//
// It runs the load twice: saturated (as fast as answers come), then paced at --rate.
// As a production MEC runs: sensor token and HTTPS (a certificate made by openssl for the run);
// --plain measures plain HTTP instead, for comparison.
//
// --profile DIR writes the proxy's CPU profile (Bun's --cpu-prof-md, a grep-friendly markdown) there.
//
//   bun bench/api.ts [--dataflows N] [--seconds S] [--concurrency C] [--rate R] [--plain] [--profile DIR]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROUTE } from "../shared/mod.ts";
import { makeTestPki } from "../tests/support/test_ca.ts";
import { sensor2022 } from "../tests/proxy/sensor_body.ts";
import { freePort } from "../tests/support/ports.ts";
import { cleanupAll, spawnTracked } from "../tests/support/procs.ts";
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
const profileAt = process.argv.indexOf("--profile");
const profileDir = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const profileArgs = profileDir ? ["--cpu-prof-md", `--cpu-prof-dir=${profileDir}`] : [];
const root = new URL("..", import.meta.url).pathname;
// With a sensor token, as a production MEC runs: every keep-alive pays for the bearer check and
// the owner check (one sensor identity holds them all, so the per-sensor limit is lifted).
const token = "bench-api-token-0123456789abcdef";
const bun = process.execPath;
const TICKS = 100; // USER_HZ on Linux

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

/** One run of the load process against the proxy `pid`; its figures plus the proxy's CPU and RSS. */
async function runLoad(pid: number, base: string, paceRate: number, caFile?: string) {
  const cpuBefore = cpuTicks(pid);
  const t0 = performance.now();
  let rssPeak = rssMb(pid);
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(pid))), 250);
  const load = spawnTracked(bun, [join(root, "bench/keepalive_load.ts"), base, "1", String(dataflows), String(seconds),
    String(concurrency), token, String(paceRate)], { cwd: root, name: "load", env: { ...process.env, VSB_BENCH_CA_FILE: caFile } });
  const status = await load.exited;
  clearInterval(sampler);
  const cpuPercent = ((cpuTicks(pid) - cpuBefore) / TICKS) / ((performance.now() - t0) / 1000) * 100;
  if (status.code !== 0) throw new Error(`load generator failed: ${load.output("stderr")}`);
  const r = JSON.parse(load.output("stdout").trim().split("\n").at(-1)!);
  return {
    seconds: r.seconds, requestsPerSecond: r.rps, requests: r.requests, errors: r.errors, p50Ms: r.p50Ms, p99Ms: r.p99Ms,
    maxMs: r.maxMs, proxyCpuPercent: Math.round(cpuPercent), proxyRssMb: Math.round(rssPeak),
  };
}

const dir = mkdtempSync(join(tmpdir(), "vsb-bench-api-"));
const pki = tls ? makeTestPki("vsb-bench-api-pki-") : undefined;
try {
  const rabbit = await getRabbit();
  const port = await freePort();
  const base = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  const tlsArgs = pki ? ["--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile] : [];
  const proxy = spawnTracked(bun, [...profileArgs, join(root, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", join(dir, "bench.db"),
    "--amqp-url", rabbit.amqpUrl, "--keepalive-seconds", "60", "--log-level", "warn", "--api-token", `sensor:${token}`,
    "--max-dataflows-per-sensor", String(dataflows), ...tlsArgs], { cwd: root, name: "vsb-proxy" });
  const fetchInit = pki ? { tls: { ca: pki.ca.certPem() } } : {};
  await waitUntil("the proxy ready", async () => (await fetch(`${base}${ROUTE.ready}`, fetchInit as RequestInit)).ok, { timeoutMs: 20_000, proc: proxy });

  const body = JSON.stringify(sensor2022());
  let registered = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (registered < dataflows) {
      registered++;
      const res = await fetch(`${base}${ROUTE.dataflows}`, { ...fetchInit, method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body } as RequestInit);
      if (res.status !== 201) throw new Error(`registration answered "${res.status}": ${await res.text()}`);
      await res.arrayBuffer();
    }
  }));

  const saturated = await runLoad(proxy.pid, base, 0, pki?.ca.certFile);
  const paced = await runLoad(proxy.pid, base, rate, pki?.ca.certFile);
  await proxy.stop();
  process.stdout.write(`${JSON.stringify({
    bench: "api-keepalive", dataflows, concurrency, apiToken: "sensor", tls, ...saturated,
    [`at${rate}PerSecond`]: paced, target: { requestsPerSecond: 10_000, p99Ms: 5 },
  })}\n`);
} finally {
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
  pki?.remove();
}
