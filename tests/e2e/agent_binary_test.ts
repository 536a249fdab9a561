// vsb-agent end to end, as installed: the BUILT binary copied into an empty directory and
// started with only PATH set, against a real vsb-proxy and a real RabbitMQ (MQTT + AMQP).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { PATH, TERMINATE_DATAFLOW, NEW_DATAFLOW } from "../../shared/mod.ts";
import { hasElements } from "../support/gst.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import { skipUnless } from "../support/gst.ts";
import { sleep, waitUntil } from "../support/procs.ts";
import {
  agentArgs,
  agentBinary,
  type BusWatch,
  demand,
  type ProxyUnderTest,
  registeredId,
  startAgent,
  startProxyUnderTest,
  watchBus,
  withdraw,
} from "./agent_e2e_harness.ts";

const ready = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = skipUnless(ready, "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)");

let rabbit: Rabbit;
let proxy: ProxyUnderTest;
let bus: BusWatch;

describe("vsb-agent binary against a real proxy and RabbitMQ", () => {
  beforeAll(async () => {
    if (!ready) return;
    agentBinary();
    rabbit = await getRabbit();
    proxy = await startProxyUnderTest(rabbit, 2);
    bus = await watchBus(rabbit.amqpUrl);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
  });

  run("registers, stays idle without demand; MQTT demand → frames on RabbitMQ within 2 s; withdrawn → stops and terminatedataflow", async () => {
    const agent = startAgent(agentArgs(proxy, rabbit.mqttUrl));
    const id = await registeredId(agent);
    const record = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
    expect(record.status).toBe(200);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000 });
    await sleep(2500); // over one keep-alive period: still idle
    expect(agent.output("stderr")).not.toContain('"msg":"gst started"');
    expect(bus.framesOf(id).length).toBe(0);

    const asked = performance.now();
    const lease = await demand(proxy, id);
    await waitUntil("first frame on RabbitMQ", () => bus.framesOf(id).length > 0, { timeoutMs: 10_000, proc: agent });
    const firstFrameMs = bus.framesOf(id)[0]! - asked;
    console.log(`demand → first frame (MQTT control): ${Math.round(firstFrameMs)} ms`);
    expect(firstFrameMs).toBeLessThan(2000);
    expect(bus.events.some((e) => e.key === NEW_DATAFLOW && e.id === id)).toBe(true);

    await withdraw(proxy, lease);
    await waitUntil("terminatedataflow", () => bus.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === id), { timeoutMs: 10_000 });
    await agent.waitForLine(/"to":"idle","reason":"send false/, { timeoutMs: 10_000 });
    const count = bus.framesOf(id).length;
    await sleep(1500);
    expect(bus.framesOf(id).length - count).toBeLessThan(5);

    agent.child.kill("SIGTERM");
    const status = await agent.exited;
    expect(status.code).toBe(0);
    const after = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
    await after.body?.cancel();
    expect(after.status).toBe(404);
  }, 60_000);

  run("with MQTT disabled, demand is picked up within one keep-alive period", async () => {
    const agent = startAgent(agentArgs(proxy, undefined));
    const id = await registeredId(agent);
    const asked = performance.now();
    await demand(proxy, id);
    await waitUntil("first frame on RabbitMQ", () => bus.framesOf(id).length > 0, { timeoutMs: 10_000, proc: agent });
    const ms = bus.framesOf(id)[0]! - asked;
    console.log(`demand → first frame (keep-alive only, period 2 s): ${Math.round(ms)} ms`);
    expect(ms).toBeLessThan(2000 + 1500);
    await agent.stop();
  }, 60_000);
});
