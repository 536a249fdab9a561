// What Bun's TLS alone costs per keep-alive: a bare server answering a constant JSON (Bun.serve
// with its defaults, and the proxy's own listener from proxy/runtime.ts), plain and over HTTPS
// (the test CA's P-256 certificate), loaded by bench/keepalive_load.ts at a fixed rate; prints
// the server's CPU µs per request for each, alternated. The floor under `make bench-api`'s
// HTTPS figure that no change in vsb's own code can remove.
//
//   bun bench/tls_floor.ts [--seconds S] [--rate R] [--rounds N]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeTestPki } from "../tests/support/test_ca.ts";
import { freePort } from "../tests/support/ports.ts";
import { cleanupAll, spawnTracked } from "../tests/support/procs.ts";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const seconds = option("--seconds", 6);
const rate = option("--rate", 10_000);
const rounds = option("--rounds", 3);
const root = new URL("..", import.meta.url).pathname;
const bun = process.execPath;

/** utime + stime of `pid` in seconds (/proc/PID/stat fields 14 and 15, USER_HZ 100). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// MODE=bun: Bun.serve with its defaults; MODE=vsb: the proxy's own listener (proxy/runtime.ts serve()).
const server = `
import { readFileSync } from "node:fs";
const tls = process.env.CERT ? { cert: readFileSync(process.env.CERT, "utf8"), key: readFileSync(process.env.KEY, "utf8") } : undefined;
const body = '{"id":1,"send":false,"keepaliveSeconds":60,"controlSeq":1765111111111111}';
const answer = () => new Response(body, { headers: { "content-type": "application/json" } });
// ASYNC=1: the answer comes from a promise a turn later, as from hono with a middleware.
const fetch = process.env.ASYNC ? async () => { await null; return answer(); } : answer;
const options = { hostname: "127.0.0.1", port: Number(process.env.PORT), tls, fetch };
const s = process.env.MODE === "vsb" ? (await import(process.env.RUNTIME)).serve(options) : Bun.serve(options);
console.log("ready", s.port);
`;

const pki = makeTestPki("vsb-tls-floor-");
try {
  const kinds = ["bun-plain", "bun-tls", "vsb-plain", "vsb-tls", "bun-plain-async", "bun-tls-async"] as const;
  const results: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const kind of kinds) {
      const port = await freePort();
      const env = {
        ...process.env, PORT: String(port), MODE: kind.split("-")[0], RUNTIME: join(root, "proxy/runtime.ts"),
        ...(kind.includes("tls") ? { CERT: pki.server.certFile, KEY: pki.server.keyFile } : {}), ...(kind.endsWith("async") ? { ASYNC: "1" } : {}),
      };
      const srv = spawnTracked(bun, ["-e", server], { cwd: root, name: `bare-${kind}`, env });
      await srv.waitForLine(/^ready/);
      const base = `${kind.includes("tls") ? "https" : "http"}://127.0.0.1:${port}`;
      const before = cpuSeconds(srv.pid);
      const load = spawnTracked(bun, [join(root, "bench/keepalive_load.ts"), base, "1", "1000", String(seconds), "64", "tok", String(rate)],
        { cwd: root, name: "load", env: { ...process.env, VSB_BENCH_CA_FILE: pki.ca.certFile } });
      const status = await load.exited;
      if (status.code !== 0) throw new Error(`load failed: ${load.output("stderr")}`);
      const r = JSON.parse(load.output("stdout").trim().split("\n").at(-1)!);
      const us = ((cpuSeconds(srv.pid) - before) / r.requests) * 1e6;
      results[kind]!.push(Math.round(us * 10) / 10);
      await srv.stop();
    }
  }
  process.stdout.write(`${JSON.stringify({ bench: "tls-floor", rate, seconds, cpuUsPerRequest: results })}\n`);
} finally {
  await cleanupAll();
  pki.remove();
}
