// vsb-agent under faults, end to end (built binary, real proxy, real RabbitMQ): the gst child
// killed, the proxy restarted, the registration API absent at start, the agent killed -9.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { sleep, waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
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
} from "./agent_e2e_harness.ts";

const base = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = skipUnless(base, "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)");

let rabbit: Rabbit;
let proxy: ProxyUnderTest;
let bus: BusWatch;

/** Waits until frames of `id` arrive after `since` (performance.now()); returns the delay. */
async function framesResume(id: number, since: number, timeoutMs: number): Promise<number> {
  const first = await waitUntil(`frames of dataflow ${id} after the fault`, () => bus.framesOf(id).find((t) => t > since), { timeoutMs });
  return first - since;
}

describe("vsb-agent faults", () => {
  beforeAll(async () => {
    if (!base) return;
    agentBinary();
    rabbit = await getRabbit();
    proxy = await startProxyUnderTest(rabbit, 2);
    bus = await watchBus(rabbit.amqpUrl);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
  });

  run("gst child killed mid-stream → frames resume within 5 s", async () => {
    const agent = startAgent(agentArgs(proxy, rabbit.mqttUrl));
    const id = await registeredId(agent);
    await demand(proxy, id);
    await waitUntil("frames", () => bus.framesOf(id).length > 30, { timeoutMs: 15_000, proc: agent });
    const line = await agent.waitForLine(/"msg":"gst started"/, { stream: "stderr" });
    const killedAt = performance.now();
    process.kill(JSON.parse(line).pid, "SIGKILL");
    const ms = await framesResume(id, killedAt + 100, 5000);
    console.log(`gst child killed → frames again after ${Math.round(ms + 100)} ms`);
    expect(ms).toBeLessThan(5000);
    await agent.stop();
  }, 60_000);

  run("proxy restarted → frames resume within 15 s", async () => {
    const agent = startAgent(agentArgs(proxy, rabbit.mqttUrl));
    const id = await registeredId(agent);
    await demand(proxy, id);
    await waitUntil("frames", () => bus.framesOf(id).length > 30, { timeoutMs: 15_000, proc: agent });
    await proxy.stop();
    await sleep(500);
    await proxy.start();
    const back = performance.now();
    const ms = await framesResume(id, back, 15_000);
    console.log(`proxy restarted → frames again ${Math.round(ms)} ms after it was back`);
    expect(ms).toBeLessThan(15_000);
    await agent.stop();
  }, 90_000);

  run("registration API unreachable at start → the agent waits, then registers when it appears", async () => {
    const late = await startProxyUnderTest(rabbit, 2, { start: false });
    const agent = startAgent(agentArgs(late, rabbit.mqttUrl));
    await agent.waitForLine(/"msg":"registration failed"/, { timeoutMs: 10_000, stream: "stderr" });
    await sleep(3000);
    expect(agent.exitStatus()).toBeUndefined();
    await late.start();
    const id = await registeredId(agent, 40_000);
    expect(id).toBeGreaterThan(0);
    await agent.stop();
    await late.stop();
  }, 90_000);

  run("agent killed -9 → its MQTT last will (terminatedataflow) reaches an AMQP consumer", async () => {
    const agent = startAgent(agentArgs(proxy, rabbit.mqttUrl));
    const id = await registeredId(agent);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000, stream: "stderr" });
    agent.child.kill("SIGKILL");
    await waitUntil("last-will terminatedataflow", () =>
      bus.events.find((e) => e.key === TERMINATE_DATAFLOW && e.id === id && e.reason === "connection lost"), { timeoutMs: 10_000 });
  }, 60_000);
});
