// ControlChannel against the REAL shared RabbitMQ (tests/support/rabbitmq.ts): MQTT 3.1.1 on
// the agent's side, AMQP amq.topic on the MEC's side, as in production. The vehicle's network
// link is a TCP relay in this process, so a test can cut one connection (no DISCONNECT on
// the wire) without touching the broker the other tests share.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import amqp from "amqplib";
import { ControlChannel, type ControlChannelOptions, IGNORED_WARN_INTERVAL_MS } from "../../agent/control/control_channel.ts";
import { ControlCounters } from "../../agent/control/control_verifier.ts";
import { ControlSigner } from "../../proxy/registry/control_signer.ts";
import { createLogger } from "../../agent/log.ts";
import { controlRoutingKey, EVENTS_EXCHANGE, NEW_DATAFLOW, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import { sleep, waitUntil } from "../support/wait.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped ControlChannel tests: RabbitMQ is not installed (run make setup)");

/** A TCP path to the broker that a test can cut, standing in for the vehicle's link. */
interface Relay {
  url: string;
  /** Connections relayed now. */
  readonly open: number;
  /** Ends every relayed connection at once, on both sides; new ones are still accepted. */
  cut(): void;
  /** Stops accepting connections (the broker is unreachable), then cuts the open ones. */
  refuse(): Promise<void>;
  /** Accepts connections again, on the same port. */
  resume(): Promise<void>;
}

async function relayTo(port: number): Promise<Relay> {
  const pairs = new Set<Socket[]>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(port, "127.0.0.1");
    const pair = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) socket.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const listenPort = (server.address() as { port: number }).port;
  const cut = () => {
    for (const pair of [...pairs]) for (const socket of pair) socket.destroy();
    pairs.clear();
  };
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())), cut);
  return {
    url: `mqtt://127.0.0.1:${listenPort}`,
    get open() {
      return pairs.size;
    },
    cut,
    refuse: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      cut();
      await closed;
    },
    resume: () => new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve)),
  };
}

/** What one channel did: onSend values, subscriptions, and its log lines. */
interface Opened {
  channel: ControlChannel;
  sends: boolean[];
  subscribed: () => number;
  logs: { msg: string; [key: string]: unknown }[];
  counters: ControlCounters;
  /** Moves the channel's warning clock on. */
  tick(ms: number): void;
}

let rabbit: Rabbit;
let amqpConnection: amqp.ChannelModel;
let amqpChannel: amqp.Channel;
/** newdataflow/terminatedataflow heard on amq.topic, with their AMQP headers. */
const heard: { key: string; body: Record<string, unknown>; headers: Record<string, unknown> }[] = [];
const cleanups: (() => unknown)[] = [];
/** Ids no other test of the run uses (amq.topic is shared). */
let nextId = 800_000 + Math.floor(Math.random() * 100_000) * 10;

function open(url: string, overrides: Partial<ControlChannelOptions> = {}): Opened {
  const id = overrides.id ?? nextId++;
  const sends: boolean[] = [];
  const logs: Opened["logs"] = [];
  let subscriptions = 0;
  let now = 0;
  const counters = new ControlCounters();
  const channel = new ControlChannel({
    urls: [url],
    id,
    event: { id, sourceId: `control-test-${id}` },
    controlKey: KEY,
    counters,
    nowMs: () => now,
    log: createLogger({}, (line) => logs.push(JSON.parse(line))),
    onSend: (send) => sends.push(send),
    onSubscribed: () => subscriptions++,
    ...overrides,
  });
  cleanups.push(() => channel.close());
  return { channel, sends, subscribed: () => subscriptions, logs, counters, tick: (ms) => void (now += ms) };
}

/** The key every channel here holds (what its registration answer would carry). */
const KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const signer = new ControlSigner();
/** `{id, send, seq, mac}` as the proxy signs it. */
const signed = (id: number, send: boolean) => signer.sign(id, send, KEY);
const publishControl = (id: number, body: unknown) =>
  amqpChannel.publish(EVENTS_EXCHANGE, controlRoutingKey(id), Buffer.from(typeof body === "string" ? body : JSON.stringify(body)));
const eventsOf = (id: number, key: string) => heard.filter((e) => e.key === key && e.body.id === id);
const subscribed = (o: Opened, times = 1) =>
  waitUntil(`control topic subscribed ${times}×`, () => o.subscribed() >= times, { timeoutMs: 10_000 });

beforeAll(async () => {
  if (!hasRabbit()) return;
  rabbit = await getRabbit();
  amqpConnection = await amqp.connect(rabbit.amqpUrl);
  amqpChannel = await amqpConnection.createChannel();
  const { queue } = await amqpChannel.assertQueue("", { exclusive: true, autoDelete: true });
  await amqpChannel.bindQueue(queue, EVENTS_EXCHANGE, NEW_DATAFLOW);
  await amqpChannel.bindQueue(queue, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
  await amqpChannel.consume(queue, (msg) => {
    if (!msg) return;
    heard.push({ key: msg.fields.routingKey, body: JSON.parse(msg.content.toString()), headers: msg.properties.headers ?? {} });
  }, { noAck: true });
}, 120_000);

afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  await amqpConnection?.close().catch(() => undefined);
});

describe("ControlChannel", () => {
  run("subscribes to control/{id} and hands signed {id, send} published on AMQP amq.topic control.{id} to onSend; counts what it ignores, one warning a minute", async () => {
    const o = open(rabbit.mqttUrl);
    await subscribed(o);
    expect(o.channel.connected).toBe(true);
    const id = nextId - 1;
    publishControl(id, "not json");
    publishControl(id, signed(id + 1, true)); // someone else's id on this topic
    publishControl(id, { id, send: "yes" });
    publishControl(id, { id, send: false }); // unsigned: anyone could have sent it
    const on = signed(id, true);
    publishControl(id, on);
    publishControl(id, signed(id, false));
    publishControl(id, on); // a genuine message captured and replayed
    await waitUntil("two control messages and five ignored", () => o.sends.length >= 2 && o.counters.rejectedTotal >= 5, { timeoutMs: 5000 });
    expect(o.sends).toEqual([true, false]);
    expect(o.counters.rejected).toMatchObject({ "not JSON": 1, "other dataflow": 1, "unexpected body": 1, unsigned: 1, replayed: 1, forged: 0 });
    expect(o.counters.accepted).toBe(2);
    const warnings = () => o.logs.filter((l) => l.msg === "control message ignored");
    // The first one warns at once; the next four within the minute are debug lines only.
    expect(warnings()).toMatchObject([{ level: "warn", reason: "not JSON", sinceLastWarning: 1 }]);
    o.tick(IGNORED_WARN_INTERVAL_MS);
    publishControl(id, { ...signed(id, false), mac: "AAAA" });
    await waitUntil("the second warning", () => warnings().length >= 2, { timeoutMs: 5000 });
    expect(warnings()[1]).toMatchObject({ level: "warn", reason: "forged", sinceLastWarning: 5, ignoredTotal: 6 });
    expect(JSON.stringify(o.logs)).not.toContain(KEY);
    expect(o.logs.filter((l) => l.msg === "control received").map((l) => l.send)).toEqual([true, false]);
  }, 30_000);

  run("without a control key (an older proxy's answer) it warns once and obeys no control message, signed or not", async () => {
    const o = open(rabbit.mqttUrl, { controlKey: undefined });
    await subscribed(o);
    const id = nextId - 1;
    publishControl(id, { id, send: true });
    publishControl(id, signed(id, true));
    await waitUntil("two ignored", () => o.counters.rejectedTotal >= 2, { timeoutMs: 5000 });
    expect(o.sends).toEqual([]);
    expect(o.counters.rejected["no key"]).toBe(2);
    expect(o.logs.filter((l) => l.msg === "no control key in the registration answer")).toHaveLength(1);
  }, 30_000);

  run("`announce()` publishes newdataflow and terminatedataflow with QoS 1 and resolves true once the broker acknowledged", async () => {
    const o = open(rabbit.mqttUrl);
    await subscribed(o);
    const id = nextId - 1;
    expect(await o.channel.announce("new")).toBe(true);
    expect(await o.channel.announce("terminate", "send false (control message)")).toBe(true);
    await waitUntil("both events on AMQP", () => eventsOf(id, NEW_DATAFLOW).length > 0 && eventsOf(id, TERMINATE_DATAFLOW).length > 0, { timeoutMs: 5000 });
    const [created] = eventsOf(id, NEW_DATAFLOW);
    const [ended] = eventsOf(id, TERMINATE_DATAFLOW);
    expect(created!.body).toEqual({ id, sourceId: `control-test-${id}` });
    expect(ended!.body).toEqual({ id, sourceId: `control-test-${id}`, reason: "send false (control message)" });
    // RabbitMQ's MQTT plugin stamps the publisher's QoS on the AMQP message.
    expect(created!.headers["x-mqtt-publish-qos"]).toBe(1);
    expect(ended!.headers["x-mqtt-publish-qos"]).toBe(1);
  }, 30_000);

  run("its last will, terminatedataflow \"connection lost\", reaches an AMQP consumer when the connection is cut without DISCONNECT", async () => {
    const relay = await relayTo(rabbit.mqttPort);
    const o = open(relay.url);
    await subscribed(o);
    const id = nextId - 1;
    await relay.refuse();
    const [will] = await waitUntil("the last will on AMQP", () => {
      const wills = eventsOf(id, TERMINATE_DATAFLOW);
      return wills.length ? wills : undefined;
    }, { timeoutMs: 10_000 });
    expect(will!.body).toEqual({ id, sourceId: `control-test-${id}`, reason: "connection lost" });
    expect(will!.headers["x-mqtt-publish-qos"]).toBe(1);
    await waitUntil("disconnected", () => o.logs.some((l) => l.msg === "mqtt disconnected"), { timeoutMs: 5000 });
  }, 30_000);

  run("`close()` disconnects cleanly: the broker drops the last will", async () => {
    const o = open(rabbit.mqttUrl);
    await subscribed(o);
    const id = nextId - 1;
    await o.channel.close();
    expect(o.channel.connected).toBe(false);
    await sleep(1500); // a will would be published as soon as the broker saw the socket close
    expect(eventsOf(id, TERMINATE_DATAFLOW)).toEqual([]);
  }, 30_000);

  run("reconnects by itself after its connection is closed, subscribes again, and control messages reach it again", async () => {
    const relay = await relayTo(rabbit.mqttPort);
    const o = open(relay.url);
    await subscribed(o);
    const id = nextId - 1;
    relay.cut();
    await subscribed(o, 2);
    expect(relay.open).toBe(1);
    const events = o.logs.map((l) => l.msg).filter((m) => m.startsWith("mqtt"));
    expect(events).toEqual(["mqtt connected", "mqtt disconnected", "mqtt connected"]);
    publishControl(id, signed(id, true));
    await waitUntil("the control message after reconnecting", () => o.sends.length > 0, { timeoutMs: 5000 });
    expect(o.sends).toEqual([true]);
  }, 30_000);

  run("`announce()` resolves false after 2 s while the broker is unreachable", async () => {
    const relay = await relayTo(rabbit.mqttPort);
    const o = open(relay.url);
    await subscribed(o);
    await relay.refuse();
    await waitUntil("offline", () => !o.channel.connected, { timeoutMs: 5000 });
    const started = performance.now();
    expect(await o.channel.announce("new")).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1900);
    expect(o.logs.some((l) => l.msg === "announcement not acknowledged")).toBe(true);
  }, 30_000);

  run("back after an outage of refused attempts: one warning for the outage, and \"mqtt connected\" counts the failed attempts", async () => {
    const relay = await relayTo(rabbit.mqttPort);
    const o = open(relay.url);
    await subscribed(o);
    await relay.refuse();
    await sleep(2500); // two or three attempts, one a second, all refused
    await relay.resume();
    await subscribed(o, 2);
    const connected = o.logs.filter((l) => l.msg === "mqtt connected");
    expect(connected.map((l) => l.failedAttempts)).toEqual([0, expect.any(Number)]);
    expect(connected[1]!.failedAttempts).toBeGreaterThanOrEqual(2);
    expect(o.logs.filter((l) => l.msg === "mqtt failed").map((l) => l.level)).toEqual(["warn"]);
  }, 30_000);
});
