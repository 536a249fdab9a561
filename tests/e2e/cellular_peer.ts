// The proxy and link sides of the cellular test (tests/e2e/cellular_test.ts), each run in its own
// network namespace with `ip netns exec`; one JSON line per 250 ms on stdout. (The sender is the
// real agent, started by the test in namespace S.)
//   bun cellular_peer.ts proxy PUBLIC_ADDR ICE_ADDR ICE_PORTS OUT
//       a private RabbitMQ + `bun proxy/main.ts` (media announced at ICE_ADDR), a demand lease for
//       every video dataflow (the agent registers itself: its id is not known in advance), and a
//       consumer of every dataflow's frames; on SIGINT the frames (BusFrame[]) go to OUT as JSON
//   bun cellular_peer.ts shaper LISTEN_ADDR PORTS TARGET_ADDR RATE_BPS [QUEUE_BYTES [BURST_MS]]
//       the UDP relay with the sender→proxy direction through a LinkShaper (token bucket + drop-tail
//       queue, default 65536 B and 15 ms); a line "rate BPS" on stdin changes the rate at once and
//       is answered {rate, at}; per 250 ms: rateBps, inBytes, outBytes, outKbps, queueBytes,
//       drops, droppedBytes, maxQueueDelayMs, maxTimerLateMs, loopLagMs, downBytes
import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import amqp from "amqplib";
import { HEADER, ROUTE, VIDEO_EXCHANGE, videoBindingPattern } from "../../shared/mod.ts";
import { LinkShaper } from "../support/link_shaper.ts";
import { type BusFrame, busKbps, longestGapMs } from "./cellular_figures.ts";
import { exitOnSignal, startNetnsProxy } from "./netns_proxy.ts";
import { datagramKind, udpRelay } from "./udp_relay.ts";

const [role, ...rest] = process.argv.slice(2);
const WINDOW_MS = 250;

async function proxyRole(publicAddr: string, iceAddr: string, icePorts: string, out: string): Promise<void> {
  const { base, publicUrl, amqpUrl } = await startNetnsProxy(publicAddr, iceAddr, { icePorts });
  // A lease on dataType "video" matches the agent's dataflow as soon as it registers, so its
  // registration answer already says send: true (it runs --no-mqtt: no control messages).
  const lease = await fetch(`${base}${ROUTE.demands}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ dataType: "video", ttlSeconds: 3600 }),
  });
  if (lease.status !== 201) throw new Error(`POST ${ROUTE.demands} {dataType: "video"} answered ${lease.status}: ${await lease.text()}`);
  const demandId = ((await lease.json()) as { id: string }).id;
  const conn = await amqp.connect(amqpUrl);
  const channel = await conn.createChannel();
  await channel.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const q = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(q.queue, VIDEO_EXCHANGE, videoBindingPattern());
  const frames: BusFrame[] = [];
  await channel.consume(q.queue, (m) => {
    if (!m) return;
    const h = m.properties.headers ?? {};
    frames.push({
      rx: Date.now(),
      capture: Number(h[HEADER.captureTime]),
      proxyRx: Number(h[HEADER.receiveTime]),
      bytes: m.content.length,
      key: h[HEADER.keyframe] === true,
      source: String(h[HEADER.captureTimeSource]),
    });
  }, { noAck: true });
  console.log(JSON.stringify({ ready: true, registrationUrl: publicUrl, demandId }));
  const summary = (from: number, to: number) => {
    const window = frames.filter((f) => f.rx >= from && f.rx < to);
    return {
      at: to, frames: frames.length, windowFrames: window.length, keyframes: window.filter((f) => f.key).length,
      kbps: busKbps(frames, from, to), longestGapMs: longestGapMs(frames, from, to),
      maxGlassToBusMs: window.reduce((max, f) => Math.max(max, f.rx - f.capture), 0),
    };
  };
  const started = Date.now();
  let from = started;
  const tick = setInterval(() => {
    const to = Date.now();
    console.log(JSON.stringify(summary(from, to)));
    from = to;
  }, WINDOW_MS);
  exitOnSignal(() => {
    clearInterval(tick);
    writeFileSync(out, JSON.stringify(frames));
    console.log(JSON.stringify({ final: summary(started, Date.now()) }));
    return conn.close();
  });
}

/**
 * Sends what `shaper` releases, on time: a setTimeout chain to the moment its head may go. A
 * late timer only lets the bucket fill (up to burstMs of rate), so jitter under 15 ms costs no
 * throughput. `offer()` queues a datagram (dropped when the queue is full, if `droppable`);
 * `takeLate()` is the latest timer since the previous call, ms.
 */
function paced(shaper: LinkShaper<() => void>): { offer(bytes: number, send: () => void, droppable: boolean): void; takeLate(): number } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let due = 0;
  let late = 0;
  const pump = () => {
    timer = undefined;
    const now = performance.now();
    late = Math.max(late, now - due);
    for (const send of shaper.release(now)) send();
    const at = shaper.nextReleaseAt(now);
    if (at === undefined) return;
    due = Math.max(now, at);
    timer = setTimeout(pump, due - now);
  };
  return {
    offer: (bytes, send, droppable) => {
      const now = performance.now();
      shaper.offer(send, bytes, now, droppable);
      if (timer) return;
      due = now;
      pump();
    },
    takeLate: () => {
      const value = late;
      late = 0;
      return value;
    },
  };
}

/**
 * The event loop's lag (beyond a 10 ms beat) since the previous call, ms, whether or not a
 * datagram waits: a stall lets datagrams pile up in the socket buffer, and they then reach the
 * queue as one burst.
 */
function loopLag(): () => number {
  let lag = 0;
  let beat = performance.now();
  setInterval(() => {
    const now = performance.now();
    lag = Math.max(lag, now - beat - 10);
    beat = now;
  }, 10);
  return () => {
    const value = lag;
    lag = 0;
    return value;
  };
}

/**
 * The shaping relay. Every sender→proxy datagram (STUN, DTLS, SRTP, SRTCP) passes the one token
 * bucket and queue in arrival order, so the handshakes are delayed like media on a full link;
 * only SRTP/SRTCP (RFC 7983 §7: first byte 128–191) are dropped when the queue is full: werift's
 * DTLS does not recover every lost flight, and a lost STUN consent check would test ICE, not
 * adaptation. Proxy→sender (RTCP feedback, STUN answers) passes at once. Rates count UDP payload
 * bytes (IP and UDP headers, 28 B a datagram, are not charged).
 */
async function shaperRole(listen: string, ports: string, target: string, rateBps: number, queueLimitBytes: number, burstMs: number): Promise<void> {
  const shaper = new LinkShaper<() => void>({ rateBps, queueLimitBytes, burstMs }, performance.now());
  const link = paced(shaper);
  let down = 0;
  await udpRelay({
    listen, target, ports: ports.split(",").map(Number),
    up: (msg, forward) => link.offer(msg.length, forward, datagramKind(msg) === "rtp"),
    down: (msg, forward) => {
      down += msg.length;
      forward();
    },
  });
  createInterface({ input: process.stdin }).on("line", (line) => {
    const [word, value] = line.trim().split(/\s+/);
    if (word !== "rate" || !(Number(value) > 0)) return void console.log(JSON.stringify({ ignored: line }));
    shaper.setRate(Number(value), performance.now());
    console.log(JSON.stringify({ rate: shaper.rateBps, at: Date.now() }));
  });
  console.log(JSON.stringify({ listening: ports, rate: shaper.rateBps, at: Date.now(), queueLimitBytes, burstMs }));
  const lag = loopLag();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const w = shaper.takeWindow();
    console.log(JSON.stringify({
      at: Date.now(), rateBps: shaper.rateBps, inBytes: w.inBytes, outBytes: w.outBytes,
      outKbps: Math.round((w.outBytes * 8) / (now - last)), queueBytes: shaper.queuedBytes, drops: w.drops, droppedBytes: w.droppedBytes,
      dropsTotal: shaper.totals.drops, maxQueueDelayMs: Math.round(w.maxDelayMs), maxTimerLateMs: Math.round(link.takeLate()),
      loopLagMs: Math.round(lag()), downBytes: down,
    }));
    last = now;
  }, WINDOW_MS);
  process.once("SIGINT", () => {
    console.log(JSON.stringify({ totals: shaper.totals }));
    process.exit(0);
  });
}

if (role === "proxy") await proxyRole(rest[0]!, rest[1]!, rest[2]!, rest[3]!);
else if (role === "shaper") {
  await shaperRole(rest[0]!, rest[1]!, rest[2]!, Number(rest[3]), Number(rest[4] ?? 65_536), Number(rest[5] ?? 15));
} else throw new RangeError(`cellular_peer role "${role}" is not proxy or shaper`);
