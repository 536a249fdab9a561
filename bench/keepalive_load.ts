// Load generator for `make bench-api`: `concurrency` persistent HTTP/1.1 connections each
// send keep-alives (`PUT /dataflows/{id}`, round robin over the ids) one at a time for
// `seconds`, after a 1 s warm-up, and print one JSON line with counts and latencies.
// Raw sockets instead of fetch(): on 2 cores the client must cost less than the server,
// or the benchmark measures the client.
//
//   bun bench/keepalive_load.ts BASE_URL FIRST_ID LAST_ID SECONDS CONCURRENCY [TOKEN] [RATE]
//
// RATE (requests/s, all connections together) paces the load; without it, or 0, every
// connection sends its next request as soon as the answer is in (saturation). An https BASE_URL
// speaks TLS (Bun's native socket), trusting the PEM CA file in VSB_BENCH_CA_FILE.
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { PATH } from "../shared/mod.ts";

const [base, firstText, lastText, secondsText, concurrencyText, token, rateText] = process.argv.slice(2);
if (!base || !firstText || !lastText || !secondsText || !concurrencyText) {
  throw new Error("usage: keepalive_load.ts BASE_URL FIRST_ID LAST_ID SECONDS CONCURRENCY [TOKEN]");
}
const url = new URL(base);
const first = Number(firstText);
const count = Number(lastText) - first + 1;
const seconds = Number(secondsText);
const concurrency = Number(concurrencyText);
const intervalMs = Number(rateText ?? 0) > 0 ? (concurrency / Number(rateText)) * 1000 : 0;
const auth = token ? `Authorization: Bearer ${token}\r\n` : "";
const requests = Array.from({ length: count }, (_, i) =>
  Buffer.from(`PUT ${PATH.dataflow(first + i)} HTTP/1.1\r\nHost: ${url.host}\r\n${auth}Content-Length: 0\r\n\r\n`));

let next = 0;
let measuring = false;
let stop = false;
let errors = 0;
// Preallocated so that growing an array does not add GC pauses to the client's latencies.
const latencies = new Float64Array(5_000_000);
let measured = 0;

/** A connection's transport: write bytes, end it. */
interface Wire {
  write(bytes: Uint8Array): unknown;
  end(): unknown;
}

/**
 * The request/answer loop of one connection, whatever carries it: send, wait for the whole
 * answer (headers + Content-Length body), record its latency, repeat (paced when RATE is set).
 * `begin(wire)` once connected; `data(chunk)` for what arrives.
 */
function conversation(resolve: () => void) {
  let wire: Wire | undefined;
  let buffered: Buffer = Buffer.alloc(0);
  let started = 0;
  let due = performance.now() + Math.random() * intervalMs;
  const write = () => {
    started = performance.now();
    wire!.write(requests[next++ % count]!);
  };
  const send = () => {
    if (stop) {
      wire!.end();
      return resolve();
    }
    if (intervalMs === 0) return write();
    due += intervalMs;
    const wait = due - performance.now();
    if (wait <= 0) write();
    else setTimeout(write, wait);
  };
  return {
    begin(w: Wire) {
      wire = w;
      send();
    },
    data(chunk: Uint8Array) {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString("latin1");
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = buffered.subarray(end + 4 + length);
      if (measuring) {
        if (measured < latencies.length) latencies[measured++] = performance.now() - started;
        if (!head.startsWith("HTTP/1.1 200")) errors++;
      }
      send();
    },
  };
}

/** One plain TCP connection. */
function client(): Promise<void> {
  return new Promise((resolve, reject) => {
    const talk = conversation(resolve);
    const socket: Socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    socket.on("connect", () => talk.begin(socket));
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => talk.data(chunk));
  });
}

/**
 * One TLS connection with Bun's native socket (node:tls in Bun costs the client about as much
 * CPU as the proxy spends answering, and on 2 shared cores the bench then measures the client).
 */
function tlsClient(ca: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const talk = conversation(resolve);
    Bun.connect({
      hostname: url.hostname, port: Number(url.port), tls: { ca, serverName: url.hostname },
      socket: {
        handshake(socket, success, error) {
          if (!success) return reject(error);
          talk.begin(socket);
        },
        data: (_socket, chunk) => talk.data(chunk),
        error: (_socket, error) => reject(error),
      },
    }).catch(reject);
  });
}

const ca = url.protocol === "https:" ? readFileSync(process.env.VSB_BENCH_CA_FILE!, "utf8") : undefined;
const clients = Array.from({ length: concurrency }, () => (ca !== undefined ? tlsClient(ca) : client()));
await new Promise((r) => setTimeout(r, 1000));
measuring = true;
const began = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const elapsed = (performance.now() - began) / 1000;
stop = true;
await Promise.all(clients);

const sorted = latencies.subarray(0, measured).sort();
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({
  requests: sorted.length, errors, seconds: Number(elapsed.toFixed(2)), rps: Math.round(sorted.length / elapsed),
  p50Ms: Number(pct(50).toFixed(3)), p99Ms: Number(pct(99).toFixed(3)), maxMs: Number(pct(100).toFixed(3)),
})}\n`);
