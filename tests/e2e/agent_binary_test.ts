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
  proxyServesWhip,
  type ProxyUnderTest,
  registeredId,
  startAgent,
  startProxyUnderTest,
  watchBus,
  withdraw,
} from "./agent_e2e_harness.ts";

const base = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const ready = base && (await proxyServesWhip());
const run = skipUnless(ready, "needs rabbitmq-server, GStreamer (x264enc, rtpstreampay, clockoverlay) and a vsb-proxy that serves WHIP");
const runBus = skipUnless(base, "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)");

let rabbit: Rabbit;
let proxy: ProxyUnderTest;
let bus: BusWatch;

skipUnless(hasElements("x264enc"), "GStreamer x264enc is not installed")(
  "the binary alone, from an empty directory with only PATH: --help, --check, and one-line errors",
  async () => {
    const help = startAgent(["--help"], "agent-help");
    expect((await help.exited).code).toBe(0);
    expect(help.output("stdout")).toContain("--source SPEC");
    const check = startAgent(["--lat", "43.295778", "--lon", "-1.980823", "--registration-url", "http://127.0.0.1:9", "--check"], "agent-check");
    expect((await check.exited).code).toBe(0);
    expect(check.output("stdout")).toContain("quadkey 18: 031333123201033303");
    expect(check.output("stdout")).toContain("quadkey 25: 0313331232010333031221303");
    expect(check.output("stdout")).toContain("rtpstreampay '!' fdsink fd=1");
    const bad = startAgent(["--lat", "1", "--lon", "1", "--registration-url", "http://x", "--fps", "fast"], "agent-bad");
    expect((await bad.exited).code).toBe(2);
    expect(bad.output("stderr").trim()).toBe('vsb-agent: invalid --fps "fast": must be a number');
    const cam = startAgent(["--lat", "1", "--lon", "1", "--registration-url", "http://x", "--source", "v4l2:/dev/video9"], "agent-cam");
    expect((await cam.exited).code).toBe(1);
    expect(cam.output("stderr").trim()).toBe('vsb-agent: --source "v4l2:/dev/video9": no such device "/dev/video9" (is the camera plugged in?)');
  },
  120_000,
);

/** The proxy keeps ended dataflows for the record: deleted = no longer active, and the agent said so. */
async function expectDeleted(id: number, agentLog: string) {
  expect(agentLog).toContain('"msg":"registration deleted"');
  const res = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
  if (res.status === 404) return void (await res.body?.cancel());
  expect(((await res.json()) as { active: boolean }).active).toBe(false);
}

describe("vsb-agent binary against a real proxy and RabbitMQ", () => {
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

  runBus("discovers the MEC from its tile, registers, stays idle without demand; SIGTERM → exit 0, dataflow deleted", async () => {
    const args = agentArgs(proxy, undefined).filter((a) => a !== "--no-mqtt");
    args[args.indexOf("--registration-url")] = "--discovery-url";
    const agent = startAgent(args);
    const id = await registeredId(agent);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000 }); // broker named by discovery
    const record = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
    expect(record.status).toBe(200);
    const body = (await record.json()) as { metadata: { videoInfo: { width: number; source: string } } };
    expect(body.metadata.videoInfo).toMatchObject({ width: 320, source: "test" });
    await sleep(4500); // two keep-alive periods: still registered, still idle
    expect(agent.output("stderr")).not.toContain('"msg":"gst started"');
    expect(agent.output("stderr")).not.toContain('"msg":"keep-alive failed"');
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
    await expectDeleted(id, agent.output("stderr"));
  }, 60_000);

  run("MQTT demand → frames on RabbitMQ within 2 s; withdrawn → stops and terminatedataflow; SIGTERM → deleted", async () => {
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
    await expectDeleted(id, agent.output("stderr"));
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
