import { expect } from "bun:test";
import { connect, type Channel, type ConsumeMessage } from "amqplib";
import mqtt from "mqtt";
import { skipUnless } from "./gst.ts";
import { isTcpPortFree } from "./ports.ts";
import { isAlive } from "./procs.ts";
import { getRabbit, hasRabbit, startRabbit } from "./rabbitmq.ts";

const rabbitTest = skipUnless(hasRabbit(), "RabbitMQ is not installed (run make setup as root)");
// bunfig.toml cannot set a timeout for every file, so tests that start brokers set their own.
const BROKER_MS = 120_000;

/** Binds a fresh exclusive queue to `exchange` with `key`; the promise inside resolves with its next message. */
async function subscribe(channel: Channel, exchange: string, key: string) {
  const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, key);
  let deliver!: (msg: ConsumeMessage) => void;
  const next = new Promise<ConsumeMessage>((resolve) => (deliver = resolve));
  await channel.consume(queue, (msg) => msg && deliver(msg), { noAck: true });
  return { next };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)),
  ]);
}

rabbitTest("getRabbit() starts one shared broker and returns it again", async () => {
  const started = Date.now();
  const a = await getRabbit();
  console.log(`getRabbit() ready in ${Date.now() - started} ms`);
  const b = await getRabbit();
  expect(b).toBe(a);
  expect(a.amqpUrl).toBe(`amqp://guest:guest@127.0.0.1:${a.amqpPort}`);
  expect(a.mqttUrl).toBe(`mqtt://127.0.0.1:${a.mqttPort}`);
  expect(isAlive(a.pid()!)).toBe(true);
}, BROKER_MS);

rabbitTest("the shared broker round-trips an AMQP message with headers", async () => {
  const rabbit = await getRabbit();
  const connection = await connect(rabbit.amqpUrl);
  try {
    const channel = await connection.createChannel();
    await channel.assertExchange("support-test", "topic", { durable: false, autoDelete: true });
    const received = (await subscribe(channel, "support-test", "video.h264.*")).next;
    channel.publish("support-test", "video.h264.7", Buffer.from([0, 0, 0, 1, 0x65]), { headers: { keyframe: true } });
    const msg = await withTimeout(received, 5000, "the AMQP message");
    expect([...msg.content]).toEqual([0, 0, 0, 1, 0x65]);
    expect(msg.properties.headers?.keyframe).toBe(true);
    expect(msg.fields.routingKey).toBe("video.h264.7");
  } finally {
    await connection.close();
  }
}, BROKER_MS);

rabbitTest("an MQTT 3.1.1 publish on a/b reaches an AMQP consumer of amq.topic key a.b", async () => {
  const rabbit = await getRabbit();
  const connection = await connect(rabbit.amqpUrl);
  const client = await mqtt.connectAsync(rabbit.mqttUrl, { protocolVersion: 4, connectTimeout: 5000, reconnectPeriod: 0 });
  try {
    const channel = await connection.createChannel();
    const received = (await subscribe(channel, "amq.topic", "a.b")).next;
    await client.publishAsync("a/b", JSON.stringify({ hello: "mqtt" }), { qos: 1 });
    const msg = await withTimeout(received, 5000, "the MQTT message on AMQP");
    expect(JSON.parse(msg.content.toString())).toEqual({ hello: "mqtt" });
  } finally {
    await client.endAsync();
    await connection.close();
  }
}, BROKER_MS);

rabbitTest("startRabbit() gives a private broker that survives restart() and frees its ports on stop()", async () => {
  const rabbit = await startRabbit();
  const shared = await getRabbit();
  expect(rabbit.amqpPort).not.toBe(shared.amqpPort);
  const setup = await connect(rabbit.amqpUrl);
  const channel = await setup.createConfirmChannel();
  await channel.assertQueue("kept", { durable: true });
  channel.sendToQueue("kept", Buffer.from("before restart"), { persistent: true });
  await channel.waitForConfirms();
  await setup.close();

  const firstPid = rabbit.pid();
  const started = Date.now();
  await rabbit.restart();
  console.log(`restart() ready in ${Date.now() - started} ms`);
  expect(rabbit.pid()).not.toBe(firstPid);
  expect(isAlive(firstPid!)).toBe(false);

  const after = await connect(rabbit.amqpUrl);
  const got = await (await after.createChannel()).get("kept", { noAck: true });
  await after.close();
  expect(got && got.content.toString()).toBe("before restart");

  const pid = rabbit.pid()!;
  await rabbit.stop();
  expect(isAlive(pid)).toBe(false);
  expect(await isTcpPortFree(rabbit.amqpPort)).toBe(true);
  expect(await isTcpPortFree(rabbit.mqttPort)).toBe(true);
  await rabbit.dispose();
}, BROKER_MS);

rabbitTest("kill() crashes a private broker and start() brings it back on the same port", async () => {
  const rabbit = await startRabbit();
  const connection = await connect(rabbit.amqpUrl);
  const closed = new Promise((resolve) => connection.on("close", resolve));
  connection.on("error", () => {}); // the crash surfaces as "close"; keep it from throwing
  await rabbit.kill();
  await withTimeout(closed, 5000, "the AMQP connection to drop");
  expect(rabbit.pid()).toBeUndefined();
  await rabbit.start();
  const again = await connect(rabbit.amqpUrl);
  await again.close();
  await rabbit.dispose();
}, BROKER_MS);
