// The shared publisher against a REAL RabbitMQ: frame-like load over many lanes, all
// confirmed and in order per lane; bounded lanes with counted drops while the broker is away.
import { afterAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { BusConnection } from "../../proxy/bus/bus_connection.ts";
import { Publisher } from "../../proxy/bus/publisher.ts";
import { configureLog } from "../../proxy/log.ts";
import { Metrics } from "../../proxy/metrics.ts";
import { VIDEO_EXCHANGE, videoBindingPattern, videoRoutingKey } from "../../shared/mod.ts";
import { freePort } from "../support/ports.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";

configureLog({ level: "silent" });
const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped publisher tests: RabbitMQ is not installed (run make setup)");
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
}, 30_000);

describe("Publisher", () => {
  run("publishes 4,000 frame-sized messages over 8 lanes, all confirmed, in order per lane", async () => {
    const rabbit = await getRabbit();
    const bus = new BusConnection({ url: rabbit.amqpUrl });
    closers.push(() => bus.stop());
    const metrics = new Metrics();
    const confirms: number[] = [];
    const publisher = new Publisher(bus, { metrics, onConfirm: (e) => e.ok && confirms.push(e.totalMs) });
    bus.start();
    expect(await bus.waitConnected(10_000)).toBe(true);

    const model = await amqp.connect(rabbit.amqpUrl);
    closers.push(() => model.close());
    const ch = await model.createChannel();
    const q = await ch.assertQueue("", { exclusive: true });
    await ch.bindQueue(q.queue, VIDEO_EXCHANGE, videoBindingPattern("h264"));
    const seen = new Map<string, number[]>();
    await ch.consume(q.queue, (m) => {
      if (!m) return;
      const list = seen.get(m.fields.routingKey) ?? [];
      list.push(m.properties.headers!.seq as number);
      seen.set(m.fields.routingKey, list);
    }, { noAck: true });

    const body = new Uint8Array(16 * 1024);
    const lanes = Array.from({ length: 8 }, (_, i) => publisher.lane(`dataflow-${i + 1}`, { maxMessages: 600, maxBytes: 16 * 1024 * 1024 }));
    const started = performance.now();
    for (let seq = 0; seq < 500; seq++) {
      lanes.forEach((lane, i) => publisher.publish(lane, {
        exchange: VIDEO_EXCHANGE, routingKey: videoRoutingKey("h264", i + 1), body, headers: { seq },
      }));
    }
    await waitUntil("all confirmed", () => confirms.length === 4000 || undefined, { timeoutMs: 30_000 });
    const seconds = (performance.now() - started) / 1000;
    await waitUntil("all consumed", () => [...seen.values()].reduce((n, l) => n + l.length, 0) === 4000 || undefined, { timeoutMs: 10_000 });
    for (const list of seen.values()) expect(list).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(publisher.stats().every((s) => s.dropped.overflow === 0 && s.dropped.nack === 0)).toBe(true);
    expect(metrics.render()).toContain('vsb_bus_confirmed_total{lane="dataflow-1"} 500');
    console.log(`publisher: 4000 x 16 KiB in ${seconds.toFixed(2)} s (${Math.round(4000 / seconds)} msgs/s, ${(64 / seconds).toFixed(0)} MB/s)`);
  }, 60_000);

  test("while the broker is away a lane holds its bound and counts every drop", async () => {
    const bus = new BusConnection({ url: `amqp://guest:guest@127.0.0.1:${await freePort()}` });
    closers.push(() => bus.stop());
    bus.start();
    const publisher = new Publisher(bus);
    const lane = publisher.lane("dataflow-9", { maxMessages: 10, maxBytes: 1 << 20 });
    const outcomes: boolean[] = [];
    for (let i = 0; i < 100; i++) {
      publisher.publish(lane, { exchange: VIDEO_EXCHANGE, routingKey: "video.h264.9", body: new Uint8Array(100), onSettled: (ok) => outcomes.push(ok) });
    }
    expect(lane.stats()).toMatchObject({ depth: 10, bytes: 1000, dropped: { overflow: 90 } });
    expect(outcomes).toEqual(Array(90).fill(false));
    publisher.closeLane("dataflow-9");
    expect(outcomes).toHaveLength(100);
    expect(bus.connected).toBe(false);
  });

  run("a frame no queue takes is published mandatory, returned and counted; a bound one is not", async () => {
    const rabbit = await getRabbit();
    const bus = new BusConnection({ url: rabbit.amqpUrl });
    closers.push(() => bus.stop());
    const metrics = new Metrics();
    const publisher = new Publisher(bus, { metrics });
    bus.start();
    expect(await bus.waitConnected(10_000)).toBe(true);
    const model = await amqp.connect(rabbit.amqpUrl);
    closers.push(() => model.close());
    const ch = await model.createChannel();
    // An exchange of this test alone: on the shared broker another test's queue may be bound to video.#.
    const exchange = `vsb-returns-${process.pid}-${Date.now()}`;
    await ch.assertExchange(exchange, "topic", { autoDelete: true });
    const q = await ch.assertQueue("", { exclusive: true });
    await ch.bindQueue(q.queue, exchange, videoRoutingKey("bound", 41));
    let consumed = 0;
    await ch.consume(q.queue, (m) => m && consumed++, { noAck: true });

    const settled: boolean[] = [];
    const lane = publisher.lane("dataflow-41", { maxMessages: 100, maxBytes: 1 << 20 });
    for (let i = 0; i < 5; i++) {
      publisher.publish(lane, { exchange, routingKey: videoRoutingKey("bound", 41), body: new Uint8Array(10), onSettled: (ok) => settled.push(ok) });
      publisher.publish(lane, { exchange, routingKey: videoRoutingKey("nobody", 41), body: new Uint8Array(10), onSettled: (ok) => settled.push(ok) });
    }
    await waitUntil("all settled", () => settled.length === 10 || undefined, { timeoutMs: 10_000 });
    await waitUntil("bound ones consumed", () => consumed === 5 || undefined, { timeoutMs: 10_000 });
    // RabbitMQ sends basic.return before the confirm of the same message: all five are in.
    expect(publisher.returned(exchange)).toBe(5);
    expect(metrics.render()).toContain(`vsb_bus_returned_total{exchange="${exchange}"} 5`);
  }, 30_000);
});
