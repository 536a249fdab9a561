// vsb-agent under real Deno, end to end: the agent SOURCE run by the pinned Deno
// (`deno run -A --no-check agent/main.ts`) with an almost empty environment, against a real
// vsb-proxy and a real RabbitMQ (MQTT + AMQP). The shipped binary is built with
// `bun build --compile` here (deno compile cannot fetch denort offline), so this is the one
// test in which the agent's Deno side of agent/runtime.ts (args, env, signals, stderr) runs.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { readlinkSync, realpathSync } from "node:fs";
import { NEW_DATAFLOW, PATH, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import {
  agentArgs,
  type BusWatch,
  demand,
  denoBinary,
  type ProxyUnderTest,
  registeredId,
  startAgentUnderDeno,
  startProxyUnderTest,
  watchBus,
} from "./agent_e2e_harness.ts";

const deno = denoBinary();
const parts = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = deno
  ? skipUnless(parts, "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)")
  : skipUnless(false, "deno is not installed (node_modules/.bin/deno; run npm ci)");

let rabbit: Rabbit;
let proxy: ProxyUnderTest;
let bus: BusWatch;

describe("vsb-agent under Deno against a real proxy and RabbitMQ", () => {
  beforeAll(async () => {
    if (!deno || !parts) return;
    rabbit = await getRabbit();
    proxy = await startProxyUnderTest(rabbit, 2);
    bus = await watchBus(rabbit.amqpUrl);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
  });

  run("`deno run agent/main.ts`: registers, logs runtime deno, demand → frames on RabbitMQ, SIGTERM → exit 0, dataflow deleted", async () => {
    const agent = startAgentUnderDeno(agentArgs(proxy, rabbit.mqttUrl));
    const started = JSON.parse(await agent.waitForLine(/"msg":"started"/, { timeoutMs: 30_000, stream: "stderr" }));
    console.log(`agent runtime: ${started.runtime}`);
    // The agent saw Deno's globals (runtimeName is "deno <version>" only when `Deno` exists)…
    expect(started.runtime).toMatch(/^deno \d+\.\d+\.\d+$/);
    // …and the process is the pinned deno binary, not a bun or node found on PATH.
    expect(realpathSync(readlinkSync(`/proc/${agent.pid}/exe`))).toBe(realpathSync(deno!));

    const id = await registeredId(agent, 30_000);
    const record = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
    expect(record.status).toBe(200);
    expect(((await record.json()) as { active: boolean }).active).toBe(true);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000, stream: "stderr" });

    const asked = performance.now();
    await demand(proxy, id);
    await waitUntil("first frame on RabbitMQ", () => bus.framesOf(id).length > 0, { timeoutMs: 15_000, proc: agent });
    console.log(`demand → first frame (Deno agent): ${Math.round(bus.framesOf(id)[0]! - asked)} ms`);
    await waitUntil("30 frames", () => bus.framesOf(id).length >= 30, { timeoutMs: 10_000, proc: agent });
    expect(bus.events.some((e) => e.key === NEW_DATAFLOW && e.id === id)).toBe(true);

    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
    const log = agent.output("stderr");
    // Deno's signal listener ran the shutdown: the agent's own announcement (MQTT) names the signal.
    await waitUntil("the agent's terminatedataflow", () =>
      bus.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === id && e.reason === "SIGTERM"), { timeoutMs: 5000 });
    expect(log).toContain('"msg":"registration deleted"');
    for (const line of log.trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow(); // no stray Deno output
    const after = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
    if (after.status === 404) await after.body?.cancel();
    else expect(((await after.json()) as { active: boolean }).active).toBe(false);
  }, 90_000);
});
