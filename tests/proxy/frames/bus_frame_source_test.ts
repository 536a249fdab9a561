// BusFrameSource on a real RabbitMQ: one queue per followed dataflow (exclusive, x-max-length,
// bound to the dataflow's routing key only), shared by its outputs and deleted with the last;
// a burst that outruns a queue of 2 frames loses its oldest at the broker, and every frame
// number is accounted for (delivered, held to a keyframe, or counted missing).
import { afterAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { HEADER, VIDEO_EXCHANGE, videoRoutingKey } from "../../../shared/mod.ts";
import { BusConnection } from "../../../proxy/bus/bus_connection.ts";
import { BusFrameSource } from "../../../proxy/frames/bus_frame_source.ts";
import { configureLog, logger } from "../../../proxy/log.ts";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";
import type { FrameOutput } from "../../../proxy/stream/frame_output.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../../support/rabbitmq.ts";
import { waitUntil } from "../../support/wait.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);
if (!hasRabbit()) console.error("bus_frame_source_test skipped: no RabbitMQ");
configureLog({ level: (process.env.VSB_TEST_LOG as "debug" | undefined) ?? "silent" });

const IDR = Buffer.from([0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84]);
const P = Buffer.from([0, 0, 0, 1, 0x41, 0x9a, 0x02]);

function recorder(name: string): FrameOutput & { units: AccessUnit[] } {
  const units: AccessUnit[] = [];
  return { name, dropped: {}, units, push: (unit) => void units.push(unit) };
}

async function queuesOf(rabbit: Rabbit, id: number): Promise<string[]> {
  const out = await rabbit.ctl(["list_queues", "-q", "--no-table-headers", "name", "arguments"]);
  return out.split("\n").filter((line) => line.startsWith(`vsb-proxy.whep.${id}.`));
}

/** Publishes frames `from`..`to` of dataflow `id` (a keyframe every 10) and waits for the broker's confirms. */
async function publish(channel: amqp.ConfirmChannel, id: number, from: number, to: number): Promise<void> {
  for (let seq = from; seq <= to; seq++) {
    const headers = { [HEADER.seq]: seq, [HEADER.rtpTimestamp]: seq * 3000, [HEADER.keyframe]: seq % 10 === 0, [HEADER.receiveTime]: Date.now() };
    channel.publish(VIDEO_EXCHANGE, videoRoutingKey("cam", id), seq % 10 === 0 ? IDR : P, { headers });
  }
  await channel.waitForConfirms();
}

describe.skipIf(!hasRabbit())("BusFrameSource", () => {
  test("one queue per dataflow for all its outputs; frames in order from a keyframe; the queue goes with the last output", async () => {
    const rabbit = await getRabbit();
    const bus = new BusConnection({ url: rabbit.amqpUrl });
    bus.start();
    cleanups.push(() => bus.stop());
    expect(await bus.waitConnected(10_000)).toBe(true);
    const source = new BusFrameSource({ bus, log: logger("test") });
    cleanups.push(() => source.close());
    const id = 900_000 + (process.pid % 1000);
    const first = recorder("one");
    const second = recorder("two");
    const removeFirst = source.addOutput(id, first);
    const removeSecond = source.addOutput(id, second);
    await waitUntil("subscribed", () => source.queueOf(id), { timeoutMs: 5000 });
    const queues = await queuesOf(rabbit, id);
    expect(queues).toHaveLength(1);
    expect(queues[0]).toContain("x-max-length");

    const model = await amqp.connect(rabbit.amqpUrl);
    cleanups.push(() => model.close().catch(() => undefined));
    const channel = await model.createConfirmChannel();
    await publish(channel, id + 1, 0, 9); // another dataflow: not ours
    await publish(channel, id, 5, 25);
    await waitUntil("frames up to 25", () => first.units.at(-1)?.seq === 25 || undefined, { timeoutMs: 5000 });
    expect(first.units.map((u) => u.seq)).toEqual(Array.from({ length: 16 }, (_, i) => 10 + i)); // 5..9 waited for the keyframe
    expect(first.units[0]!.keyframe).toBe(true);
    expect(second.units.map((u) => u.seq)).toEqual(first.units.map((u) => u.seq));
    expect(source.counters).toMatchObject({ frames: 16, dropped: { missing: 0, "to-keyframe": 5, malformed: 0 } });

    removeFirst();
    expect(source.size).toBe(1);
    removeSecond();
    expect(source.size).toBe(0);
    await waitUntil("queue deleted", async () => (await queuesOf(rabbit, id)).length === 0 || undefined, { timeoutMs: 5000, intervalMs: 100 });
  }, 60_000);

  test("a burst past x-max-length: the broker drops the oldest, the jump is counted, what follows it starts at a keyframe", async () => {
    const rabbit = await getRabbit();
    const bus = new BusConnection({ url: rabbit.amqpUrl });
    bus.start();
    cleanups.push(() => bus.stop());
    expect(await bus.waitConnected(10_000)).toBe(true);
    const source = new BusFrameSource({ bus, log: logger("test"), maxFrames: 2, prefetch: 1 });
    cleanups.push(() => source.close());
    const id = 910_000 + (process.pid % 1000);
    const out = recorder("slow");
    source.addOutput(id, out);
    await waitUntil("subscribed", () => source.queueOf(id), { timeoutMs: 5000 });
    const model = await amqp.connect(rabbit.amqpUrl);
    cleanups.push(() => model.close().catch(() => undefined));
    const channel = await model.createConfirmChannel();
    const last = 600; // a keyframe: the newest frame is delivered whatever was dropped before it
    await publish(channel, id, 0, last); // far faster than one ack round-trip per frame
    await waitUntil("the newest frame", () => out.units.at(-1)?.seq === last || undefined, { timeoutMs: 10_000 });
    const c = source.counters;
    expect(c.dropped.missing).toBeGreaterThan(0);
    expect(c.frames).toBe(out.units.length);
    // Every number from the first one taken off the queue on: delivered, held until a keyframe, or missing.
    const firstTaken = last + 1 - (c.frames + c.dropped["to-keyframe"] + c.dropped.missing);
    expect(firstTaken).toBeGreaterThanOrEqual(0);
    expect(firstTaken).toBeLessThanOrEqual(out.units[0]!.seq);
    for (let i = 1; i < out.units.length; i++) {
      if (out.units[i]!.seq !== out.units[i - 1]!.seq + 1) expect(out.units[i]!.keyframe).toBe(true);
    }
    console.error(`bus frame source: ${last + 1} frames in a burst, queue of 2: ${c.frames} delivered, ${c.dropped.missing} missing, ${c.dropped["to-keyframe"]} held to a keyframe`);
  }, 60_000);

  test("subscribed again after the broker closed the connection, and after an operator deleted the queue: frames go on from a keyframe", async () => {
    const rabbit = await getRabbit();
    const bus = new BusConnection({ url: rabbit.amqpUrl, minBackoffMs: 50, maxBackoffMs: 200 });
    bus.start();
    cleanups.push(() => bus.stop());
    expect(await bus.waitConnected(10_000)).toBe(true);
    const source = new BusFrameSource({ bus, log: logger("test") });
    cleanups.push(() => source.close());
    const id = 920_000 + (process.pid % 1000);
    const out = recorder("viewer");
    source.addOutput(id, out);
    const model = await amqp.connect(rabbit.amqpUrl);
    cleanups.push(() => model.close().catch(() => undefined));
    const channel = await model.createConfirmChannel();
    const delivered = async (from: number, to: number) => {
      await waitUntil(`frames ${from}..${to}`, async () => {
        await publish(channel, id, from, to);
        return out.units.some((u) => u.seq === to) || undefined;
      }, { timeoutMs: 10_000, intervalMs: 200 });
    };

    const firstQueue = await waitUntil("subscribed", () => source.queueOf(id), { timeoutMs: 5000 });
    await delivered(0, 9);
    // The broker drops every connection (as on a node restart): the bus reconnects, the queue comes back.
    await rabbit.ctl(["close_all_connections", "test: dropped"]);
    await waitUntil("a new queue", () => (source.queueOf(id) !== undefined && source.queueOf(id) !== firstQueue && source.queueOf(id)) || undefined, { timeoutMs: 10_000 });
    const model2 = await amqp.connect(rabbit.amqpUrl);
    cleanups.push(() => model2.close().catch(() => undefined));
    const channel2 = await model2.createConfirmChannel();
    const publishAgain = async (from: number, to: number) => publish(channel2, id, from, to);
    await waitUntil("frames after the reconnect", async () => {
      await publishAgain(40, 50);
      return out.units.some((u) => u.seq === 50) || undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    const second = source.queueOf(id)!;
    // An operator deletes the queue: the broker cancels the consumer, and it subscribes again.
    await rabbit.ctl(["delete_queue", second]);
    await waitUntil("a third queue", () => (source.queueOf(id) !== undefined && source.queueOf(id) !== second) || undefined, { timeoutMs: 10_000 });
    await waitUntil("frames after the delete", async () => {
      await publishAgain(80, 90);
      return out.units.some((u) => u.seq === 90) || undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    // Each new subscription started at a keyframe: never a P-frame right after a jump.
    for (let i = 1; i < out.units.length; i++) {
      if (out.units[i]!.seq !== out.units[i - 1]!.seq + 1) expect(out.units[i]!.keyframe).toBe(true);
    }
    expect((await queuesOf(rabbit, id)).length).toBe(1);
  }, 60_000);
});
