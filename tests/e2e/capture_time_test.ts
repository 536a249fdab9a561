// Capture time end to end: the agent SOURCE under the pinned Deno with its capture clock 200 ms
// behind (`--clock-offset-ms -200`), real GStreamer (x264), werift both ways, a real vsb-proxy
// and a real RabbitMQ. Every picture is stamped with abs-capture-time as it leaves gst; the
// proxy turns the stamp into `captureTime`, so a consumer sees captureTime ≈ receiveTime − 200 ms
// (both clocks are this machine's: only the offset and the real glass-to-proxy delay remain),
// and vsb_glass_to_bus_seconds and the dashboard's p50 move by the same 200 ms.
//
// Tolerance: receiveTime − captureTime = 200 ms + (gst stdout → proxy first packet: pipe,
// werift, SRTP, loopback), a few ms idle; on a busy 2-core box (other helpers' tests) we have
// seen scheduling stalls of tens of ms, so the median must lie in [195, 260] ms. 195, not 200:
// both times are rounded to whole ms on their way (AMQP long). The old proxy set captureTime =
// receiveTime: median 0, so `median ≥ 195` fails there (and the old agent knows no
// --clock-offset-ms: it exits 2 at once).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import amqp from "amqplib";
import { CAPTURE_TIME_SOURCE, HEADER, ROUTE, VIDEO_EXCHANGE, videoBindingPattern } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { onCleanup, waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import {
  agentArgs,
  demand,
  denoBinary,
  type ProxyUnderTest,
  proxyMetrics,
  registeredId,
  startAgentUnderDeno,
  startProxyUnderTest,
} from "./agent_e2e_harness.ts";

const parts = denoBinary() !== undefined && hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = skipUnless(parts, "needs node_modules/.bin/deno, rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)");
const OFFSET_MS = -200;

interface FrameSeen {
  id: number;
  captureTime: number;
  receiveTime: number;
  source: unknown;
}

let rabbit: Rabbit;
let proxy: ProxyUnderTest;
const frames: FrameSeen[] = [];

/** Every frame's time headers, from a queue bound to every dataflow's frames. */
async function watchFrames(amqpUrl: string): Promise<void> {
  const conn = await amqp.connect(amqpUrl);
  onCleanup(() => conn.close().catch(() => undefined));
  const ch = await conn.createChannel();
  await ch.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const q = await ch.assertQueue("", { exclusive: true, autoDelete: true });
  await ch.bindQueue(q.queue, VIDEO_EXCHANGE, videoBindingPattern());
  await ch.consume(q.queue, (msg) => {
    const h = msg?.properties.headers ?? {};
    frames.push({
      id: Number(msg!.fields.routingKey.split(".").at(-1)),
      captureTime: Number(h[HEADER.captureTime]),
      receiveTime: Number(h[HEADER.receiveTime]),
      source: h[HEADER.captureTimeSource],
    });
  }, { noAck: true });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe("capture time: a sender 200 ms behind", () => {
  beforeAll(async () => {
    if (!parts) return;
    rabbit = await getRabbit();
    proxy = await startProxyUnderTest(rabbit, 2);
    await watchFrames(rabbit.amqpUrl);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
  });

  run("captureTime ≈ receiveTime − 200 ms on every frame; vsb_glass_to_bus_seconds and the dashboard's p50 show it", async () => {
    const agent = startAgentUnderDeno(agentArgs(proxy, rabbit.mqttUrl, ["--clock-offset-ms", String(OFFSET_MS)]));
    const id = await registeredId(agent, 30_000);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000, stream: "stderr" });
    await demand(proxy, id);
    const answered = JSON.parse(await agent.waitForLine(/"msg":"whip answered"/, { timeoutMs: 15_000, stream: "stderr" }));
    expect(answered.captureTimes).toBe(true); // the proxy negotiated abs-capture-time
    const mine = () => frames.filter((f) => f.id === id);
    // 150 frames: 5 s at 30 fps, the first second of which may be the replayed GOP (older stamps).
    await waitUntil("150 frames on RabbitMQ", () => mine().length >= 150, { timeoutMs: 30_000, proc: agent });

    const seen = mine();
    expect(seen.filter((f) => f.source !== CAPTURE_TIME_SOURCE.sender)).toEqual([]);
    const lag = seen.slice(30).map((f) => f.receiveTime - f.captureTime);
    const mid = median(lag);
    const sorted = [...lag].sort((a, b) => a - b);
    console.log(`receiveTime − captureTime over ${lag.length} frames: min ${sorted[0]} ms, median ${mid} ms, p95 ${sorted[Math.floor(lag.length * 0.95)]} ms, max ${sorted.at(-1)} ms (offset ${-OFFSET_MS} ms)`);
    expect(mid).toBeGreaterThanOrEqual(195);
    expect(mid).toBeLessThanOrEqual(260);
    expect(sorted[0]!).toBeGreaterThanOrEqual(195); // no frame claims to be younger than the offset

    // The histogram: every confirmed frame observed once, its mean at least the offset.
    // A frame is observed at its broker confirm, which may come after the consumer got it.
    const metrics = await waitUntil("the histogram to count every frame consumed", async () => {
      const m = await proxyMetrics(proxy);
      return m.total("vsb_glass_to_bus_seconds_count") >= seen.length && m;
    }, { timeoutMs: 5_000, proc: agent });
    const count = metrics.total("vsb_glass_to_bus_seconds_count");
    const sum = metrics.total("vsb_glass_to_bus_seconds_sum");
    console.log(`vsb_glass_to_bus_seconds: count ${count}, mean ${Math.round((sum / count) * 1000)} ms`);
    expect(count).toBeGreaterThanOrEqual(150);
    expect(count).toBeLessThanOrEqual(metrics.total("vsb_frames_published_total"));
    expect(sum / count).toBeGreaterThanOrEqual(0.195);
    expect(sum / count).toBeLessThan(1);
    expect(metrics.total("vsb_frames_capture_in_future_total")).toBe(0);

    // The dashboard's JSON route: this dataflow's p50/p95 of its last frames.
    const flows = (await (await fetch(`${proxy.base}${ROUTE.dataflows}?active=true`)).json()) as { id: number; stats?: Record<string, number> }[];
    const stats = flows.find((f) => f.id === id)?.stats ?? {};
    console.log(`dashboard: glass-to-bus p50 ${stats.glassToBusP50Ms} ms, p95 ${stats.glassToBusP95Ms} ms`);
    expect(stats.glassToBusP50Ms).toBeGreaterThanOrEqual(195);
    expect(stats.glassToBusP50Ms).toBeLessThanOrEqual(300);
    expect(stats.glassToBusP95Ms).toBeGreaterThanOrEqual(stats.glassToBusP50Ms!);

    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
  }, 120_000);
});
