// Forged and replayed MQTT control messages (issue #12, finding 4), end to end: the agent SOURCE
// under the pinned Deno pushing a test pattern to a real vsb-proxy, real RabbitMQ (MQTT + AMQP),
// and a second MQTT client (mqtt.js, as any other vehicle on the broker could be) that records
// the proxy's genuine control messages and then publishes on control/{id}: an unsigned
// `{id, send:false}`, a replay of the proxy's own earlier `send:false`, and a genuine message with
// `send` flipped. The agent must keep pushing, count all three, and still obey the proxy.
// On the old code (no signatures) the forged `send:false` stops the push: this test fails there.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { controlTopic } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import {
  agentArgs,
  type BusWatch,
  demand,
  denoBinary,
  emptyDir,
  type ProxyUnderTest,
  registeredId,
  startAgentUnderDeno,
  startProxyUnderTest,
  watchBus,
  withdraw,
} from "./agent_e2e_harness.ts";

const deno = denoBinary();
const parts = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = deno
  ? skipUnless(parts, "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)")
  : skipUnless(false, "deno is not installed (node_modules/.bin/deno; run npm ci)");

/** A control message as it went over the broker. */
type Control = { id: number; send: boolean; seq?: number; mac?: string };

let rabbit: Rabbit;
let proxy: ProxyUnderTest;
let bus: BusWatch;
let intruder: MqttClient;
/** Everything heard on control/+ by the second client, in order. */
const heard: Control[] = [];

/** Connects a second MQTT 3.1.1 client to the broker (the same user every agent has). */
function connectIntruder(url: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 4, clientId: `intruder-${process.pid}`, reconnectPeriod: 0 });
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", reject);
  });
}

/** Publishes `body` on control/{id} with QoS 1, resolving once the broker acknowledged it. */
function publish(client: MqttClient, id: number, body: unknown): Promise<void> {
  return new Promise((resolve, reject) =>
    client.publish(controlTopic(id), JSON.stringify(body), { qos: 1 }, (error) => (error ? reject(error) : resolve())));
}

describe("forged MQTT control messages against a real agent, proxy and RabbitMQ", () => {
  beforeAll(async () => {
    if (!deno || !parts) return;
    rabbit = await getRabbit();
    // Keep-alives every 60 s: within this test only MQTT control can change `send`.
    proxy = await startProxyUnderTest(rabbit, 60);
    bus = await watchBus(rabbit.amqpUrl);
    intruder = await connectIntruder(rabbit.mqttUrl);
    intruder.on("message", (_topic, payload) => {
      try {
        heard.push(JSON.parse(payload.toString()) as Control);
      } catch {
        // not ours to judge: only the proxy's JSON is looked at
      }
    });
    await intruder.subscribeAsync("control/+", { qos: 1 });
  }, 120_000);
  afterAll(async () => {
    await intruder?.endAsync(true).catch(() => {});
    await proxy?.stop();
  });

  run("unsigned, replayed and flipped control messages are ignored and counted (media keeps flowing); the proxy's own still works", async () => {
    const statusFile = join(emptyDir("vsb-agent-status-"), "status.json");
    const agent = startAgentUnderDeno(agentArgs(proxy, rabbit.mqttUrl, ["--log-level", "debug", "--status-file", statusFile]));
    const id = await registeredId(agent, 30_000);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000, stream: "stderr" });
    const of = (send: boolean) => heard.filter((m) => m.id === id && m.send === send);
    // The proxy's send:false at registration, captured by the intruder to replay later.
    const genuineOff = await waitUntil("the proxy's send:false at registration", () => of(false)[0], { timeoutMs: 10_000 });

    const lease = await demand(proxy, id);
    const genuineOn = await waitUntil("the proxy's send:true", () => of(true)[0], { timeoutMs: 10_000 });
    await waitUntil("30 frames on RabbitMQ", () => bus.framesOf(id).length >= 30, { timeoutMs: 20_000, proc: agent });

    const handled = () => agent.output("stderr").split("\n").filter((l) => /"msg":"control (received|message ignored)"/.test(l));
    const before = handled().length;
    await publish(intruder, id, { id, send: false }); // what the old agent obeyed from anyone
    await publish(intruder, id, genuineOff); // the proxy's own words, replayed
    await publish(intruder, id, { ...genuineOn, send: false }); // a genuine signature, send flipped
    await waitUntil("the agent handled the three messages", () => handled().length >= before + 3, { timeoutMs: 10_000, proc: agent });
    const verdicts = handled().slice(before, before + 3).map((l) => JSON.parse(l) as { msg: string; reason?: string; send?: boolean });
    expect(verdicts.map((v) => v.msg === "control received" ? `obeyed send:${v.send}` : v.reason)).toEqual(["unsigned", "replayed", "forged"]);

    // Still pushing: 60 more frames (2 s at 30 fps) arrive after the forgeries were handled.
    const framesThen = bus.framesOf(id).length;
    await waitUntil("60 more frames after the forgeries", () => bus.framesOf(id).length >= framesThen + 60, { timeoutMs: 15_000, proc: agent });
    expect(agent.output("stderr")).not.toMatch(/"msg":"demand changed"[^\n]*"send":false/);

    // The proxy's genuine send:false (lease withdrawn) is obeyed over MQTT at once.
    await withdraw(proxy, lease);
    const line = await agent.waitForLine(/"msg":"demand changed"[^\n]*"send":false/, { timeoutMs: 10_000, stream: "stderr" });
    expect(JSON.parse(line)).toMatchObject({ send: false, origin: "control message" });

    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
    const status = JSON.parse(readFileSync(statusFile, "utf8"));
    console.log(`agent status: controlAccepted ${status.controlAccepted}, controlIgnored ${JSON.stringify(status.controlIgnoredByReason)}`);
    expect(status.controlIgnored).toBe(3);
    expect(status.controlIgnoredByReason).toMatchObject({ unsigned: 1, replayed: 1, forged: 1 });
    // The lease's end at least; the registration's false and the lease's true may have come
    // before the agent had subscribed (it then took send from its keep-alive answer).
    expect(status.controlAccepted).toBeGreaterThanOrEqual(1);
    // The registration answer's secret never reaches the log (no control key field in any line).
    expect(agent.output("stderr")).not.toMatch(/"control":\{|"controlKey"|"key":/);
  }, 120_000);
});
