// The JS cost of one keep-alive without the HTTP server or TLS: the proxy's app in memory (the
// tests' harness: SQLite in memory, a fake clock), a sensor token, 1,000 dataflows, then body-
// less keep-alives through `app.fetch()` one after another; prints CPU µs per keep-alive
// (process.cpuUsage, so other load on the machine moves it little). Pass a checkout to measure
// another version of the code (e.g. the code before issue #12) with this same loop:
//
//   bun bench/api_inproc.ts [DIR=.] [--requests N] [--rounds R]
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const dir = resolve(process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : join(import.meta.dir, ".."));
const requests = option("--requests", 200_000);
const rounds = option("--rounds", 5);
const TOKEN = "bench-api-token-0123456789abcdef";
// Before roles (issue #12) a token had no role: `--api-token TOKEN`.
const roles = existsSync(join(dir, "proxy/api/roles.ts"));
const { harness } = await import(join(dir, "tests/proxy/harness.ts"));
const { sensor2022 } = await import(join(dir, "tests/proxy/sensor_body.ts"));
const h = await harness({ tokens: [roles ? `sensor:${TOKEN}` : TOKEN], keepaliveSeconds: 3600, maxDataflowsPerSensor: 1000 });
const auth = { authorization: `Bearer ${TOKEN}` };
for (let i = 0; i < 1000; i++) {
  const res = await h.json("POST", "/dataflows", sensor2022(), auth);
  if (res.status !== 201) throw new Error(`registration answered "${res.status}": ${await res.text()}`);
}
const urls = Array.from({ length: 1000 }, (_, i) => `http://127.0.0.1/dataflows/${i + 1}`);
const init = { method: "PUT", headers: { ...auth, "content-length": "0" } };
const perRound: number[] = [];
for (let round = 0; round < rounds + 1; round++) {
  const before = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const res = await h.app.fetch(new Request(urls[i % 1000]!, init));
    if (res.status !== 200) throw new Error(`keep-alive answered "${res.status}": ${await res.text()}`);
    await res.arrayBuffer();
  }
  const used = process.cpuUsage(before);
  if (round > 0) perRound.push(Math.round(((used.user + used.system) / requests) * 100) / 100); // the first warms up
}
const sorted = [...perRound].sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({ bench: "api-inproc", dir, roles, cpuUsPerKeepalive: perRound, median: sorted[sorted.length >> 1] })}\n`);
process.exit(0);
