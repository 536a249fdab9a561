// vsb-agent under faults, end to end (built binary, real proxy, real RabbitMQ): the gst child
// killed, the proxy restarted, the registration API absent at start, the agent killed -9, and
// MQTT gone while AMQP stays (the MQTT plugin disabled on a private broker).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mqttTopic, NEW_DATAFLOW, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { canConnect, type Proc, sleep, waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit, startRabbit } from "../support/rabbitmq.ts";
import {
  agentArgs,
  agentBinary,
  type BusWatch,
  demand,
  proxyMetrics,
  type ProxyUnderTest,
  rabbitCli,
  registeredId,
  startAgent,
  startProxyUnderTest,
  watchBus,
  withdraw,
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

/** The agent's log line for an acknowledged newdataflow announcement. */
const ANNOUNCED_NEW = new RegExp(`"msg":"announced".*"topic":"${mqttTopic(NEW_DATAFLOW)}"`);

/** How many of the agent's log lines match `pattern`. */
function linesOf(agent: Proc, pattern: RegExp): string[] {
  return agent.output("stderr").split("\n").filter((line) => pattern.test(line));
}

/** The longest pause between consecutive times in `times` that fall within [from, to]. */
function longestGap(times: number[], from: number, to: number): number {
  const inside = times.filter((t) => t >= from && t <= to);
  let gap = inside.length ? Math.max(inside[0]! - from, to - inside.at(-1)!) : to - from;
  for (let i = 1; i < inside.length; i++) gap = Math.max(gap, inside[i]! - inside[i - 1]!);
  return gap;
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

  // A private broker: the MQTT plugin is switched off under it while AMQP (and so the frames
  // on the bus) stays up. The keep-alive period is 20 s, so a quick stop after MQTT is back
  // can only have come over MQTT.
  run("MQTT down → the stream goes on (same WHIP session), MQTT reconnects by itself, control messages reach the agent again", async () => {
    const broker = await startRabbit();
    try {
      const mec = await startProxyUnderTest(broker, 20);
      const watch = await watchBus(broker.amqpUrl);
      const agent = startAgent(agentArgs(mec, broker.mqttUrl));
      const id = await registeredId(agent);
      await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 10_000, stream: "stderr" });
      const lease = await demand(mec, id);
      await agent.waitForLine(/"to":"streaming"/, { timeoutMs: 15_000, stream: "stderr" });
      await waitUntil("frames", () => watch.framesOf(id).length > 30, { timeoutMs: 15_000, proc: agent });
      const before = await proxyMetrics(mec);
      const newBefore = linesOf(agent, ANNOUNCED_NEW).length;

      const disabling = rabbitCli(broker, "rabbitmq-plugins", ["disable", "--online", "rabbitmq_mqtt"]);
      await agent.waitForLine(/"msg":"mqtt disconnected"/, { timeoutMs: 60_000, stream: "stderr" });
      const lostAt = performance.now();
      await disabling;
      expect(await canConnect(broker.mqttPort)).toBe(false);
      expect(await canConnect(broker.amqpPort)).toBe(true);
      await sleep(3000); // the agent's reconnect attempts (one a second) are refused meanwhile
      const during = await proxyMetrics(mec);

      await rabbitCli(broker, "rabbitmq-plugins", ["enable", "--online", "rabbitmq_mqtt"]);
      const enabledAt = performance.now();
      await waitUntil("the agent's MQTT reconnection", () => linesOf(agent, /"msg":"mqtt connected"/).length >= 2, { timeoutMs: 15_000, proc: agent });
      const backAt = performance.now();
      const after = await proxyMetrics(mec);

      const packets = (m: typeof before) => m.total("vsb_whip_rtp_packets_total");
      const outage = {
        mqttDownMs: Math.round(backAt - lostAt),
        reconnectedAfterEnableMs: Math.round(backAt - enabledAt),
        longestFrameGapMs: Math.round(longestGap(watch.framesOf(id), lostAt, backAt)),
        framesWhileDown: watch.framesOf(id).filter((t) => t > lostAt && t < backAt).length,
        whipPackets: [packets(before), packets(during), packets(after)],
        lastWillSeen: watch.events.some((e) => e.key === TERMINATE_DATAFLOW && e.id === id && e.reason === "connection lost"),
        failedAttempts: JSON.parse(linesOf(agent, /"msg":"mqtt connected"/)[1]!).failedAttempts as number,
      };
      console.log(JSON.stringify({ mqttOutage: outage }));
      // The stream never noticed: packets and frames went on, and it is the same WHIP session.
      expect(packets(during)).toBeGreaterThan(packets(before));
      expect(packets(after)).toBeGreaterThan(packets(during));
      expect(outage.longestFrameGapMs).toBeLessThan(1000);
      expect(after.total("vsb_whip_sessions")).toBe(1);
      expect(after.total("vsb_whip_sessions_ended_total")).toBe(before.total("vsb_whip_sessions_ended_total"));
      expect(linesOf(agent, /"to":"streaming"/)).toHaveLength(1);
      expect(linesOf(agent, /"msg":"WHIP session failed"/)).toHaveLength(0);
      // The agent told of the loss once and retried quietly until the broker took it again.
      expect(linesOf(agent, /"msg":"mqtt disconnected"/)).toHaveLength(1);
      expect(linesOf(agent, /"msg":"mqtt failed"/)).toHaveLength(1);
      expect(outage.failedAttempts).toBeGreaterThanOrEqual(2);

      // Back on MQTT: withdrawing the demand stops the agent at once, by control message.
      // Its control topic is subscribed again once it re-announces newdataflow (it does that
      // on the SUBACK while streaming); a fixed pause could beat the SUBACK on a busy host.
      await waitUntil("the agent's control topic subscribed again", () => linesOf(agent, ANNOUNCED_NEW).length > newBefore, { timeoutMs: 15_000, proc: agent });
      const withdrawnAt = performance.now();
      await withdraw(mec, lease);
      const line = await agent.waitForLine(/"msg":"demand changed".*"send":false/, { timeoutMs: 10_000, stream: "stderr" });
      const stoppedMs = performance.now() - withdrawnAt;
      console.log(`demand withdrawn after the MQTT outage → agent told in ${Math.round(stoppedMs)} ms (${JSON.parse(line).origin})`);
      expect(JSON.parse(line).origin).toBe("control message");
      expect(stoppedMs).toBeLessThan(3000);
      await agent.waitForLine(/"to":"idle","reason":"send false \(control message\)"/, { timeoutMs: 10_000, stream: "stderr" });
      await agent.stop();
      await watch.close();
      await mec.stop();
    } finally {
      await broker.dispose();
    }
  }, 150_000);
});
