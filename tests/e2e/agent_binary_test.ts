// vsb-agent end to end, as installed: the BUILT binary copied into an empty directory and
// started with only PATH set, against a real vsb-proxy and a real RabbitMQ (MQTT + AMQP).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { NEW_DATAFLOW, PATH, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
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
  withdraw,
} from "./agent_e2e_harness.ts";

const base = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = skipUnless(base, "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)");

/** Keep-alive period of the proxy for the MQTT tests: far longer than any of their waits, so only MQTT can bring `send`. */
const LONG_KEEPALIVE_S = 20;
/** Keep-alive period of the proxy for the keep-alive-only test and the idle check. */
const SHORT_KEEPALIVE_S = 2;
/**
 * Time allowed from the keep-alive answer that carries `send: true` to the first frame on
 * RabbitMQ: gst/x264 start, WHIP offer/answer, ICE + DTLS on loopback, the first keyframe
 * through the proxy. Measured on the 2-core CI machine: 380–450 ms alone, 475–615 ms with the
 * other agent e2e files running beside it; 1000 ms leaves ~400 ms over the loaded worst case.
 */
const MARGIN_MS = 1000;

let rabbit: Rabbit;
/** Proxy with a keep-alive period of SHORT_KEEPALIVE_S. */
let proxy: ProxyUnderTest;
/** Proxy with a keep-alive period of LONG_KEEPALIVE_S. */
let slowProxy: ProxyUnderTest;
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
async function expectDeleted(on: ProxyUnderTest, id: number, agentLog: string) {
  expect(agentLog).toContain('"msg":"registration deleted"');
  const res = await fetch(`${on.base}${PATH.dataflow(id)}`);
  if (res.status === 404) return void (await res.body?.cancel());
  expect(((await res.json()) as { active: boolean }).active).toBe(false);
}

/** `demand changed` log lines of an agent, parsed. */
function demandChanges(agentLog: string): { send: boolean; origin: string }[] {
  return agentLog.split("\n").filter((l) => l.includes('"msg":"demand changed"')).map((l) => JSON.parse(l));
}

describe("vsb-agent binary against a real proxy and RabbitMQ", () => {
  beforeAll(async () => {
    if (!base) return;
    agentBinary();
    rabbit = await getRabbit();
    [proxy, slowProxy] = await Promise.all([
      startProxyUnderTest(rabbit, SHORT_KEEPALIVE_S),
      startProxyUnderTest(rabbit, LONG_KEEPALIVE_S),
    ]);
    bus = await watchBus(rabbit.amqpUrl);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([proxy?.stop(), slowProxy?.stop()]);
  });

  run("discovers the MEC from its tile, registers, stays idle without demand; SIGTERM → exit 0, dataflow deleted", async () => {
    const args = agentArgs(proxy, undefined).filter((a) => a !== "--no-mqtt");
    args[args.indexOf("--registration-url")] = "--discovery-url";
    const agent = startAgent(args);
    const id = await registeredId(agent);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000 }); // broker named by discovery
    const record = await fetch(`${proxy.base}${PATH.dataflow(id)}`);
    expect(record.status).toBe(200);
    const body = (await record.json()) as { metadata: { videoInfo: { width: number; source: string } } };
    expect(body.metadata.videoInfo).toMatchObject({ width: 320, source: "test" });
    await sleep(SHORT_KEEPALIVE_S * 1000 * 2 + 500); // two keep-alive periods: still registered, still idle
    expect(agent.output("stderr")).not.toContain('"msg":"gst started"');
    expect(agent.output("stderr")).not.toContain('"msg":"keep-alive failed"');
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
    await expectDeleted(proxy, id, agent.output("stderr"));
  }, 60_000);

  run("MQTT demand → frames on RabbitMQ within 2 s; withdrawn → stops and the agent's terminatedataflow; SIGTERM → deleted", async () => {
    // Debug level for "keep-alive answered": the agent sends one keep-alive as soon as it has
    // subscribed to control/{id}; after its answer the next is LONG_KEEPALIVE_S away.
    const agent = startAgent(agentArgs(slowProxy, rabbit.mqttUrl, ["--log-level", "debug"]));
    const id = await registeredId(agent);
    const record = await fetch(`${slowProxy.base}${PATH.dataflow(id)}`);
    expect(record.status).toBe(200);
    await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000, stream: "stderr" });
    await agent.waitForLine(/"msg":"keep-alive answered"/, { timeoutMs: 10_000, stream: "stderr" });
    await sleep(1000); // registered and subscribed, no demand: still idle
    expect(agent.output("stderr")).not.toContain('"msg":"gst started"');
    expect(bus.framesOf(id).length).toBe(0);

    const asked = performance.now();
    const lease = await demand(slowProxy, id);
    await waitUntil("first frame on RabbitMQ", () => bus.framesOf(id).length > 0, { timeoutMs: 10_000, proc: agent });
    const firstFrameMs = bus.framesOf(id)[0]! - asked;
    console.log(`demand → first frame (MQTT control, keep-alive period ${LONG_KEEPALIVE_S} s): ${Math.round(firstFrameMs)} ms`);
    expect(firstFrameMs).toBeLessThan(2000);
    expect(demandChanges(agent.output("stderr")).map((c) => [c.send, c.origin])).toEqual([[true, "control message"]]);
    expect(bus.events.some((e) => e.key === NEW_DATAFLOW && e.id === id)).toBe(true);

    await withdraw(slowProxy, lease);
    // The proxy also publishes a terminatedataflow when the WHIP session ends (reason "delete");
    // the agent's own one, over MQTT, carries the reason of its stop.
    const reason = "send false (control message)";
    await waitUntil("the agent's terminatedataflow", () =>
      bus.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === id && e.reason === reason), { timeoutMs: 10_000 });
    await agent.waitForLine(`"to":"idle","reason":"${reason}"`, { timeoutMs: 10_000, stream: "stderr" });
    expect(demandChanges(agent.output("stderr")).map((c) => [c.send, c.origin])).toEqual([[true, "control message"], [false, "control message"]]);
    const count = bus.framesOf(id).length;
    await sleep(1500);
    expect(bus.framesOf(id).length - count).toBeLessThan(5);

    agent.child.kill("SIGTERM");
    const status = await agent.exited;
    expect(status.code).toBe(0);
    await expectDeleted(slowProxy, id, agent.output("stderr"));
  }, 60_000);

  run(`with MQTT disabled, demand is picked up within one keep-alive period (${SHORT_KEEPALIVE_S} s)`, async () => {
    const agent = startAgent(agentArgs(proxy, undefined));
    const id = await registeredId(agent);
    const changed = agent.waitForLine(/"msg":"demand changed"/, { timeoutMs: 10_000, stream: "stderr" }).then(() => performance.now());
    const asked = performance.now();
    await demand(proxy, id);
    await waitUntil("first frame on RabbitMQ", () => bus.framesOf(id).length > 0, { timeoutMs: 10_000, proc: agent });
    const ms = bus.framesOf(id)[0]! - asked;
    const startMs = bus.framesOf(id)[0]! - (await changed);
    console.log(`demand → first frame (keep-alive only, period ${SHORT_KEEPALIVE_S} s): ${Math.round(ms)} ms, of which send:true → first frame ${Math.round(startMs)} ms`);
    expect(demandChanges(agent.output("stderr"))[0]).toMatchObject({ send: true, origin: "keep-alive answer" });
    // The demand is taken right after registration, so the answer that carries it is about one
    // period away (the worst case); MARGIN_MS covers what follows it.
    expect(ms).toBeLessThan(SHORT_KEEPALIVE_S * 1000 + MARGIN_MS);
    await agent.stop();
  }, 60_000);

  run("--keep-registration: SIGTERM → exit 0, the dataflow stays registered and active", async () => {
    const agent = startAgent(agentArgs(slowProxy, undefined, ["--keep-registration"]));
    const id = await registeredId(agent);
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
    const log = agent.output("stderr");
    expect(log).toContain('"to":"stopped","reason":"SIGTERM"');
    expect(log).not.toContain('"msg":"registration deleted"');
    expect(log).not.toContain('"msg":"registration delete failed"');
    const res = await fetch(`${slowProxy.base}${PATH.dataflow(id)}`);
    expect(res.status).toBe(200);
    expect((await res.json()) as { active: boolean; state: string }).toMatchObject({ active: true, state: "registered" });
  }, 60_000);
});
