// Load generator for `make bench-api`: `concurrency` workers send keep-alives
// (`PUT /dataflows/{id}`, round robin over the ids) over keep-alive HTTP connections for
// `seconds`, after a 1 s warm-up, and print one JSON line with the counts and latencies.
//
//   bun bench/keepalive_load.ts BASE_URL FIRST_ID LAST_ID SECONDS CONCURRENCY [TOKEN]
import { PATH } from "../shared/mod.ts";

const [base, firstText, lastText, secondsText, concurrencyText, token] = process.argv.slice(2);
if (!base || !firstText || !lastText || !secondsText || !concurrencyText) {
  throw new Error("usage: keepalive_load.ts BASE_URL FIRST_ID LAST_ID SECONDS CONCURRENCY [TOKEN]");
}
const first = Number(firstText);
const count = Number(lastText) - first + 1;
const seconds = Number(secondsText);
const concurrency = Number(concurrencyText);
const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
const urls = Array.from({ length: count }, (_, i) => `${base}${PATH.dataflow(first + i)}`);

let next = 0;
let measuring = false;
let stop = false;
let errors = 0;
const latencies: number[] = [];

async function worker(): Promise<void> {
  while (!stop) {
    const url = urls[next++ % count]!;
    const started = performance.now();
    const res = await fetch(url, { method: "PUT", headers, keepalive: true });
    await res.arrayBuffer();
    if (!measuring) continue;
    latencies.push(performance.now() - started);
    if (res.status !== 200) errors++;
  }
}

const workers = Array.from({ length: concurrency }, () => worker());
await new Promise((r) => setTimeout(r, 1000));
measuring = true;
const started = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = (performance.now() - started) / 1000;
stop = true;
await Promise.all(workers);

const sorted = Float64Array.from(latencies).sort();
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({
  requests: sorted.length, errors, seconds: Number(elapsed.toFixed(2)), rps: Math.round(sorted.length / elapsed),
  p50Ms: Number(pct(50).toFixed(3)), p99Ms: Number(pct(99).toFixed(3)), maxMs: Number(pct(100).toFixed(3)),
})}\n`);
