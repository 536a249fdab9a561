// DataflowEvents on a REAL RabbitMQ (tests/support/rabbitmq.ts, RabbitMQ 3.10): each follower
// has a quorum queue of its own (x-expires, x-max-length), so two proxies both hear every event;
// events published while the proxy's connection is down wait in its queue and are heard once it
// is back (an exclusive queue went with the connection: those were lost); the broker removes an
// abandoned queue after x-expires; close() deletes the queue.
import { afterAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { BusConnection } from "../../../proxy/bus/bus_connection.ts";
import { declareEventQueue, EVENT_QUEUE_EXPIRES_MS, EVENT_QUEUE_MAX_LENGTH } from "../../../proxy/bus/event_queue.ts";
import { configureLog, logger } from "../../../proxy/log.ts";
import { DataflowEvents } from "../../../proxy/outputs/dataflow_events.ts";
import { EVENTS_EXCHANGE, NEW_DATAFLOW, TERMINATE_DATAFLOW } from "../../../shared/mod.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../../support/rabbitmq.ts";
import { waitUntil } from "../../support/wait.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped DataflowEvents tests: RabbitMQ is not installed (run make setup)");
configureLog({ level: "silent" });

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

/** Dataflow ids of this file only (the broker is shared with other test files). */
let nextId = 800_000 + Math.floor(Math.random() * 100_000);

interface QueueRow { name: string; type: string; arguments: [string, string, unknown][]; consumers: number }
async function queues(rabbit: Rabbit): Promise<QueueRow[]> {
  return JSON.parse(await rabbit.ctl(["list_queues", "name", "type", "arguments", "consumers", "--formatter", "json"])) as QueueRow[];
}

async function follower(rabbit: Rabbit) {
  const bus = new BusConnection({ url: rabbit.amqpUrl });
  const events = new DataflowEvents(bus, logger("events"));
  bus.start();
  cleanups.push(() => bus.stop());
  cleanups.push(() => events.close());
  await waitUntil("events followed", async () => (await queues(rabbit)).find((q) => q.name === events.queue && q.consumers === 1), { timeoutMs: 15_000 });
  return { bus, events };
}

/** Publishes one event with a publisher confirm (the broker has it in every bound queue). */
async function publisher(rabbit: Rabbit) {
  const model = await amqp.connect(rabbit.amqpUrl);
  cleanups.push(() => model.close());
  const channel = await model.createConfirmChannel();
  return async (key: string, id: number) => {
    channel.publish(EVENTS_EXCHANGE, key, Buffer.from(JSON.stringify({ id, reason: "test" })));
    await channel.waitForConfirms();
  };
}

describe("DataflowEvents on real RabbitMQ", () => {
  run("each follower has a quorum queue of its own (x-expires, x-max-length): two proxies both hear every event", async () => {
    const rabbit = await getRabbit();
    const a = await follower(rabbit);
    const b = await follower(rabbit);
    expect(a.events.queue).not.toBe(b.events.queue);
    const row = (await queues(rabbit)).find((q) => q.name === a.events.queue)!;
    expect(row.type).toBe("quorum");
    expect(Object.fromEntries(row.arguments.map(([k, , v]) => [k, v]))).toMatchObject({ "x-expires": EVENT_QUEUE_EXPIRES_MS, "x-max-length": EVENT_QUEUE_MAX_LENGTH });
    const publish = await publisher(rabbit);
    const ids = [nextId++, nextId++];
    await publish(NEW_DATAFLOW, ids[0]!);
    await publish(TERMINATE_DATAFLOW, ids[1]!);
    for (const { events } of [a, b]) {
      await waitUntil("both events heard", () => events.lastEvent(ids[0]!) && events.lastEvent(ids[1]!), { timeoutMs: 5000 });
      expect(events.lastEvent(ids[1]!)!.event).toBe(TERMINATE_DATAFLOW);
    }
  }, 60_000);

  run("events published while the proxy's connection is down are heard once it is connected again", async () => {
    const rabbit = await getRabbit();
    const { bus, events } = await follower(rabbit);
    const publish = await publisher(rabbit);
    await bus.stop(); // the connection is gone, as when its node dies
    const ids = [nextId++, nextId++, nextId++];
    for (const id of ids) await publish(NEW_DATAFLOW, id);
    bus.start();
    await waitUntil("the three events heard after the reconnect", () => ids.every((id) => events.lastEvent(id)), { timeoutMs: 10_000 });
    expect(events.counts[NEW_DATAFLOW]).toBe(3);
  }, 60_000);

  run("RabbitMQ 3.10 removes an abandoned quorum event queue after x-expires", async () => {
    const rabbit = await getRabbit();
    const model = await amqp.connect(rabbit.amqpUrl);
    const channel = await model.createChannel();
    const name = `vsb-proxy.events.expiry-test-${nextId++}`;
    await declareEventQueue(channel, name, { expiresMs: 1000 });
    await model.close();
    expect((await queues(rabbit)).some((q) => q.name === name)).toBe(true);
    // Measured ~5.5 s for 1 s (the queue checks its expiry on a timer of its own).
    await waitUntil("the queue expired", async () => !(await queues(rabbit)).some((q) => q.name === name), { timeoutMs: 30_000, intervalMs: 500 });
  }, 60_000);

  run("close() deletes the follower's queue", async () => {
    const rabbit = await getRabbit();
    const { events } = await follower(rabbit);
    await events.close();
    expect((await queues(rabbit)).some((q) => q.name === events.queue)).toBe(false);
  }, 60_000);
});
