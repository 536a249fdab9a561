// The registration service against a REAL RabbitMQ (tests/support/rabbitmq.ts): control
// messages and terminatedataflow reach a real AMQP consumer, also when the broker was down.
import { afterAll, describe, expect, test } from "bun:test";
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { ControlVerifier } from "../../agent/control/control_verifier.ts";
import { controlRoutingKey, EVENTS_EXCHANGE, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { getRabbit, hasRabbit, startRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { startTestProxy } from "./proxy_fixture.ts";
import { sensor2022 } from "./sensor_body.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped bus tests: RabbitMQ is not installed (run make setup)");

/** A consumer of amq.topic that collects messages for `patterns`. */
async function consumer(url: string, patterns: string[], queue = "") {
  const model: ChannelModel = await amqp.connect(url);
  model.on("error", () => undefined); // the broker is killed on purpose below
  const channel: Channel = await model.createChannel();
  const q = await channel.assertQueue(queue, queue ? { durable: true } : { exclusive: true });
  for (const p of patterns) await channel.bindQueue(q.queue, EVENTS_EXCHANGE, p);
  const got: ConsumeMessage[] = [];
  await channel.consume(q.queue, (m) => m && got.push(m), { noAck: true });
  const json = () => got.map((m) => ({ key: m.fields.routingKey, body: JSON.parse(m.content.toString()) }));
  return { got, json, close: () => model.close() };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
}, 60_000);

describe("proxy on real RabbitMQ", () => {
  run("a demand makes send true on the next keep-alive and control.{id} reaches an AMQP consumer", async () => {
    const rabbit = await getRabbit();
    const p = await startTestProxy(rabbit.amqpUrl);
    cleanups.push(p.stop);
    await waitUntil("proxy ready", async () => (await p.call("GET", "/ready")).status === 200, { timeoutMs: 10_000 });
    const c = await consumer(rabbit.amqpUrl, ["control.*", TERMINATE_DATAFLOW]);
    cleanups.push(c.close);

    const reg = (await p.call("POST", "/dataflows", sensor2022())).body;
    expect(reg.send).toBe(false);
    const started = performance.now();
    await p.call("POST", "/demands", { dataflowId: reg.id, ttlSeconds: 30 });
    await waitUntil("control send=true", () => c.json().some((m) => m.key === controlRoutingKey(reg.id) && m.body.send === true), { timeoutMs: 5_000 });
    const latencyMs = performance.now() - started;
    expect(latencyMs).toBeLessThan(1_000);
    expect((await p.call("PUT", `/dataflows/${reg.id}`)).body).toMatchObject({ id: reg.id, send: true });

    await p.call("DELETE", `/dataflows/${reg.id}`);
    await waitUntil("terminatedataflow", () => c.got.some((m) => m.fields.routingKey === TERMINATE_DATAFLOW), { timeoutMs: 5_000 });
    const end = c.got.find((m) => m.fields.routingKey === TERMINATE_DATAFLOW)!;
    expect(JSON.parse(end.content.toString())).toMatchObject({ id: reg.id, reason: "deleted", dataTypeInfo: { dataType: "video" } });
    expect(end.properties.headers).toMatchObject({
      dataType: "video", dataSubType: "h264", sourceId: reg.id, locationQuadkey: "0313331232010333031221303", body_size: end.content.byteLength,
    });
    expect(c.json().filter((m) => m.key === controlRoutingKey(reg.id)).map((m) => m.body.send)).toEqual([false, true, false]);
    // Each control message is signed with the key of the registration answer, seq growing; and
    // the proxy's messages carry its broker-validated AMQP user-id (the test broker's "guest").
    const verifier = new ControlVerifier(reg.id, reg.control.key);
    const controls = c.got.filter((m) => m.fields.routingKey === controlRoutingKey(reg.id));
    expect(controls.map((m) => verifier.check(m.content))).toMatchObject([{ ok: true, send: false }, { ok: true, send: true }, { ok: true, send: false }]);
    expect([...controls, end].map((m) => m.properties.userId)).toEqual(["guest", "guest", "guest", "guest"]);
  }, 120_000);

  run("a dataflow that misses its keep-alives expires and terminatedataflow is published", async () => {
    const rabbit = await getRabbit();
    const p = await startTestProxy(rabbit.amqpUrl, ["--keepalive-seconds", "0.3"]);
    cleanups.push(p.stop);
    await waitUntil("proxy ready", async () => (await p.call("GET", "/ready")).status === 200, { timeoutMs: 10_000 });
    const c = await consumer(rabbit.amqpUrl, [TERMINATE_DATAFLOW]);
    cleanups.push(c.close);
    const reg = (await p.call("POST", "/dataflows", sensor2022())).body;
    const started = performance.now();
    await waitUntil("terminatedataflow", () => c.json().find((m) => m.body.id === reg.id), { timeoutMs: 5_000 });
    expect(c.json().find((m) => m.body.id === reg.id)!.body.reason).toBe("expired");
    expect(performance.now() - started).toBeLessThan(4_000); // 3 × 0.3 s, one 1 s sweep, the 1 s wait for an agent's own end
    expect((await p.call("PUT", `/dataflows/${reg.id}`)).status).toBe(404);
    expect((await p.call("GET", `/dataflows/${reg.id}`)).body).toMatchObject({ active: false, state: "expired" });
  }, 60_000);

  run("a dataflow deleted after its end was heard on the bus gets no second terminatedataflow; one without gets exactly one", async () => {
    const rabbit = await getRabbit();
    const p = await startTestProxy(rabbit.amqpUrl);
    cleanups.push(p.stop);
    await waitUntil("proxy ready", async () => (await p.call("GET", "/ready")).status === 200, { timeoutMs: 10_000 });
    const c = await consumer(rabbit.amqpUrl, [TERMINATE_DATAFLOW]);
    cleanups.push(c.close);
    const announced = (await p.call("POST", "/dataflows", sensor2022())).body;
    const silent = (await p.call("POST", "/dataflows", sensor2022())).body;
    // What an agent does on SIGTERM: its own terminatedataflow (MQTT → amq.topic), then DELETE.
    const agent = await amqp.connect(rabbit.amqpUrl);
    cleanups.push(() => agent.close());
    const ch = await agent.createChannel();
    ch.publish(EVENTS_EXCHANGE, TERMINATE_DATAFLOW, Buffer.from(JSON.stringify({ ...sensor2022(), id: announced.id, reason: "SIGTERM" })));
    await waitUntil("agent's end heard by the proxy", () => p.proxy.events.lastEvent(announced.id)?.event === TERMINATE_DATAFLOW, { timeoutMs: 5_000 });
    await p.call("DELETE", `/dataflows/${announced.id}`);
    await p.call("DELETE", `/dataflows/${silent.id}`);
    await waitUntil("the proxy's end of the silent one", () => c.json().some((m) => m.body.id === silent.id), { timeoutMs: 5_000 });
    await Bun.sleep(1500); // past the proxy's 1 s wait for the announced one too
    expect(c.json().filter((m) => m.body.id === announced.id).map((m) => m.body.reason)).toEqual(["SIGTERM"]);
    expect(c.json().filter((m) => m.body.id === silent.id).map((m) => m.body.reason)).toEqual(["deleted"]);
  }, 60_000);

  run("RabbitMQ down at start: the API answers, /ready is 503, and events arrive once the broker is up", async () => {
    const rabbit = await startRabbit();
    // A durable queue declared before the outage keeps what the proxy publishes after it.
    const setup = await consumer(rabbit.amqpUrl, ["control.*", TERMINATE_DATAFLOW], "vsb-test-outage");
    await setup.close();
    await rabbit.stop();

    const p = await startTestProxy(rabbit.amqpUrl);
    cleanups.push(p.stop);
    expect((await p.call("GET", "/health")).status).toBe(200);
    expect((await p.call("GET", "/ready")).body).toEqual({ ready: false, checks: { store: true, bus: false } });
    const reg = (await p.call("POST", "/dataflows", sensor2022())).body;
    await p.call("POST", "/demands", { dataflowId: reg.id, ttlSeconds: 30 });
    expect((await p.call("PUT", `/dataflows/${reg.id}`)).body.send).toBe(true);
    await p.call("DELETE", `/dataflows/${reg.id}`);

    await rabbit.start();
    await waitUntil("proxy ready", async () => (await p.call("GET", "/ready")).status === 200, { timeoutMs: 15_000 });
    const c = await consumer(rabbit.amqpUrl, ["control.*", TERMINATE_DATAFLOW], "vsb-test-outage");
    cleanups.push(c.close);
    await waitUntil("4 queued events", () => c.got.length >= 4 || undefined, { timeoutMs: 10_000 });
    expect(c.json().map((m) => `${m.key}:${m.body.send ?? m.body.reason}`)).toEqual([
      `${controlRoutingKey(reg.id)}:false`, `${controlRoutingKey(reg.id)}:true`, `${controlRoutingKey(reg.id)}:false`, `${TERMINATE_DATAFLOW}:deleted`,
    ]);

    // And when the broker goes away later (crash), the API keeps answering and catches up.
    await rabbit.kill();
    await waitUntil("proxy not ready", async () => (await p.call("GET", "/ready")).status === 503, { timeoutMs: 10_000 });
    const again = (await p.call("POST", "/dataflows", sensor2022())).body;
    expect(again.id).toBe(reg.id + 1);
    await rabbit.start();
    const c2 = await consumer(rabbit.amqpUrl, ["control.*"], "vsb-test-outage");
    cleanups.push(c2.close);
    await waitUntil("control after crash", () => c2.json().some((m) => m.key === controlRoutingKey(again.id)) || undefined, { timeoutMs: 15_000 });
  }, 180_000);
});
