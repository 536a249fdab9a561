// coalesceWrites on a REAL RabbitMQ connection: amqplib's internals are what it expects (so an
// amqplib upgrade that changes them fails here, not silently in production), and messages
// published in one pass, one far above the socket's high-water mark (the corked pass must
// still drain), all reach a consumer whole and in order.
import { afterAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { coalesceWrites } from "../../proxy/bus/coalesce_writes.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped coalesceWrites tests: RabbitMQ is not installed (run make setup)");

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
});

describe("coalesceWrites", () => {
  run("corks amqplib's socket per pass; a burst of confirmed publishes arrives whole and in order", async () => {
    const rabbit = await getRabbit();
    const model = await amqp.connect(rabbit.amqpUrl);
    closers.push(() => model.close());
    expect(coalesceWrites(model)).toBe(true);
    const stream = (model as unknown as { connection: { stream: { writableCorked: number } } }).connection.stream;
    const channel = await model.createConfirmChannel();
    const { queue } = await channel.assertQueue("", { autoDelete: true, arguments: { "x-expires": 60_000 } });
    const readerModel = await amqp.connect(rabbit.amqpUrl);
    closers.push(() => readerModel.close());
    const reader = await readerModel.createChannel();
    const got: Buffer[] = [];
    await reader.consume(queue, (m) => m && got.push(m.content), { noAck: true });
    const bodies = Array.from({ length: 200 }, (_, i) => Buffer.alloc(i === 100 ? 300_000 : 1000 + i, i & 0xff));
    for (const body of bodies) channel.sendToQueue(queue, body);
    expect(stream.writableCorked).toBe(0); // nothing is corked between passes
    await channel.waitForConfirms();
    await waitUntil("all 200 consumed", () => got.length === 200, { timeoutMs: 10_000 });
    expect(got.map((b) => [b.length, b[0]])).toEqual(bodies.map((b) => [b.length, b[0]]));
    expect(stream.writableCorked).toBe(0);
  }, 60_000);

  test("leaves anything that is not an amqplib connection alone", () => {
    expect(coalesceWrites(undefined)).toBe(false);
    expect(coalesceWrites({ connection: { muxer: {}, stream: {} } })).toBe(false);
    expect(coalesceWrites({ connection: { muxer: { _readIncoming() {} }, stream: {} } })).toBe(false);
  });
});
