// No single broker (#14): a 3-node RabbitMQ cluster on 127.0.0.1 (tests/support/rabbitmq_cluster.ts),
// a real vsb-proxy given all three nodes (--amqp-url n1,n2,n3: connected to n1), the built agent
// streaming a test pattern, and an AMQP consumer attached to n3. kill -9 of n1 mid-stream: the
// proxy connects to another node and frames reach the consumer again within 5 s; every frame
// missing at the consumer (a seq jump) is counted by the proxy as dropped, none silently lost.
// n1 started again rejoins the cluster by itself while the stream goes on. Then the agent on all
// three MQTT nodes: kill -9 of its node, a demand withdrawn 2 s later still stops it within 2 s.
// Then vsb-consume on two nodes: kill -9 of its node, it goes on on the other from the next keyframe.
// Last the proxies' event queues (quorum): a second proxy, kill -9 of the node holding both its
// connection and its queue's leader, events published right after and after the switch are
// heard by both proxies (an exclusive queue died with the node: the first was lost).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { join, resolve } from "node:path";
import amqp from "amqplib";
import { EVENTS_EXCHANGE, HEADER, NEW_DATAFLOW, VIDEO_EXCHANGE, videoBindingPattern } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked, waitForPort, waitUntil } from "../support/procs.ts";
import { tempDir } from "../support/temp_dir.ts";
import { hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import { type RabbitCluster, startRabbitCluster } from "../support/rabbitmq_cluster.ts";
import { agentArgs, demand, type ProxyUnderTest, proxyMetrics, registeredId, startAgent, startProxyUnderTest, withdraw } from "./agent_e2e_harness.ts";

const run = skipUnless(hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay"), "needs rabbitmq-server and GStreamer (x264enc, rtpstreampay, clockoverlay)");

let cluster: RabbitCluster;
let proxy: ProxyUnderTest;

/** Frames of every dataflow as a consumer on `url` sees them: arrival time and seq header. */
async function consumeFrames(url: string) {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const { queue } = await ch.assertQueue("", { exclusive: true, autoDelete: true });
  await ch.bindQueue(queue, VIDEO_EXCHANGE, videoBindingPattern());
  const frames: { id: number; seq: number; at: number }[] = [];
  await ch.consume(queue, (msg) => {
    if (!msg) return;
    const id = Number(msg.fields.routingKey.split(".").at(-1));
    frames.push({ id, seq: Number(msg.properties.headers?.[HEADER.seq]), at: performance.now() });
  }, { noAck: true });
  return { frames, close: () => conn.close().catch(() => undefined) };
}

/** True once `proxy` logged that it heard the event of dataflow `id`. */
function heard(proxy: ProxyUnderTest, id: number): boolean {
  return new RegExp(`"msg":"dataflow event heard"[^\\n]*"id":${id}[,}]`).test(proxy.proc.output("stderr"));
}

/** The "dataflow events followed" lines `proxy` logged (one per connect), with its queue's name. */
function followedLines(proxy: ProxyUnderTest): { queue: string }[] {
  return proxy.proc.output("stderr").split("\n").filter((l) => l.includes('"msg":"dataflow events followed"')).map((l) => JSON.parse(l) as { queue: string });
}

/** The leader node of `queue`, asked of `via` (undefined while it has none). */
async function leaderOf(via: Rabbit, queue: string): Promise<string | undefined> {
  const rows = JSON.parse(await via.ctl(["list_queues", "name", "type", "leader", "--formatter", "json"])) as { name: string; type: string; leader: string }[];
  const row = rows.find((r) => r.name === queue);
  return row?.type === "quorum" ? row.leader : undefined;
}

describe("vsb-proxy on a 3-node RabbitMQ cluster", () => {
  beforeAll(async () => {
    if (!hasRabbit()) return;
    cluster = await startRabbitCluster(3);
    proxy = await startProxyUnderTest({ amqpUrl: cluster.amqpUrls.join(","), mqttUrl: cluster.mqttUrls[0]! }, 2);
  }, 240_000);
  afterAll(async () => {
    await proxy?.stop();
  });

  run("kill -9 of the proxy's node mid-stream: frames again within 5 s on another node, every missing frame counted by the proxy", async () => {
    const consumer = await consumeFrames(cluster.amqpUrls[2]!);
    const agent = startAgent(agentArgs(proxy, undefined), "agent-cluster");
    const id = await registeredId(agent, 30_000);
    await demand(proxy, id);
    const mine = () => consumer.frames.filter((f) => f.id === id);
    await waitUntil("60 frames via node 1", () => mine().length >= 60, { timeoutMs: 30_000, proc: agent });
    const before = await proxyMetrics(proxy);
    expect(before.text).toMatch(new RegExp(`vsb_bus_connections_total\\{node="127\\.0\\.0\\.1:${cluster.nodes[0]!.amqpPort}"\\} 1`));

    const seen = mine().length;
    const killedAt = performance.now();
    await cluster.nodes[0]!.kill();
    await waitUntil("a frame after the failover", () => mine().length > seen + 5, { timeoutMs: 15_000, proc: agent });
    const resumed = mine().slice(seen).find((f) => f.at > killedAt);
    const gapMs = Math.round(resumed!.at - killedAt);
    console.log(`kill -9 of node 1 -> next frame on node 3's consumer after ${gapMs} ms`);
    expect(gapMs).toBeLessThan(5000);

    const after = await proxyMetrics(proxy);
    const connectedElsewhere = cluster.nodes.slice(1).some((n) =>
      new RegExp(`vsb_bus_connections_total\\{node="127\\.0\\.0\\.1:${n.amqpPort}"\\} 1`).test(after.text));
    expect(connectedElsewhere).toBe(true);
    // No silent loss: every seq the consumer misses was counted by the proxy as dropped.
    await waitUntil("30 more frames", () => mine().length > seen + 30, { timeoutMs: 10_000, proc: agent });
    const seqs = mine().map((f) => f.seq);
    let missing = 0;
    for (let i = 1; i < seqs.length; i++) missing += Math.max(0, seqs[i]! - seqs[i - 1]! - 1);
    // Frames of the bus output dropped: the unconfirmed ones lost with node 1, and those after
    // them until the next keyframe (useless without it), each a seq the consumer never sees.
    const busDropped = (text: string) => text.split("\n").filter((l) => l.startsWith("vsb_frames_dropped_total{") && l.includes('stage="bus"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    const dropped = busDropped((await proxyMetrics(proxy)).text) - busDropped(before.text);
    console.log(`frames missing at the consumer: ${missing}, counted dropped by the proxy: ${dropped}`);
    expect(missing).toBeLessThanOrEqual(dropped);

    // The node comes back and rejoins; nothing to do by hand, the stream goes on.
    await cluster.nodes[0]!.start();
    await waitUntil("node 1 running in the cluster again", async () => (await cluster.runningNodes(cluster.nodes[1])).length === 3, { timeoutMs: 60_000 });
    const now = mine().length;
    await waitUntil("frames keep coming", () => mine().length > now + 30, { timeoutMs: 10_000, proc: agent });
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
    await consumer.close();
  }, 180_000);

  run("kill -9 of the agent's MQTT node: it moves to another node, and a demand withdrawn 2 s later stops it within 2 s", async () => {
    const agent = startAgent(agentArgs(proxy, cluster.mqttUrls.join(",")), "agent-cluster-mqtt");
    const id = await registeredId(agent, 30_000);
    const connected = JSON.parse(await agent.waitForLine(/"msg":"mqtt connected"/, { timeoutMs: 15_000, stream: "stderr" }));
    const node = cluster.nodes.find((n) => connected.url.endsWith(`:${n.mqttPort}`))!;
    expect(node).toBeDefined();
    const lease = await demand(proxy, id);
    await agent.waitForLine(/"msg":"demand changed".*"send":true/, { timeoutMs: 10_000, stream: "stderr" });
    const killedAt = performance.now();
    await node.kill();
    const moved = await waitUntil("mqtt connected to another node", () => {
      const lines = agent.output("stderr").split("\n").filter((l) => l.includes('"msg":"mqtt connected"')).map((l) => JSON.parse(l));
      return lines.length > 1 ? lines.at(-1) : undefined;
    }, { timeoutMs: 15_000, proc: agent });
    console.log(`agent's MQTT node killed -> connected to ${moved.url} after ${Math.round(performance.now() - killedAt)} ms`);
    expect(moved.url).not.toBe(connected.url);
    await new Promise((r) => setTimeout(r, Math.max(0, 2000 - (performance.now() - killedAt))));
    const withdrawnAt = performance.now();
    await withdraw(proxy, lease);
    await waitUntil("the agent stops sending", () => /"msg":"demand changed"[^\n]*"send":false/.test(agent.output("stderr")), { timeoutMs: 5000, proc: agent });
    const stopMs = Math.round(performance.now() - withdrawnAt);
    // The session on the new node holds (on 3.10 a QoS 1 subscription could not move: the
    // connection was closed at once, and the stop came only from a keep-alive answer).
    expect(agent.output("stderr")).not.toContain("mqtt subscribe failed");
    expect(agent.output("stderr").split("\n").filter((l) => l.includes('"msg":"mqtt disconnected"'))).toHaveLength(1);
    console.log(`demand withdrawn -> agent stopped after ${stopMs} ms`);
    expect(stopMs).toBeLessThan(2000);
    await node.start();
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
  }, 120_000);

  run("vsb-consume on two nodes: kill -9 of its node, it resumes on the other from the next keyframe", async () => {
    const agent = startAgent(agentArgs(proxy, undefined), "agent-cluster-consume");
    const id = await registeredId(agent, 30_000);
    // Two nodes the proxy is not publishing through, so that the stream itself is not cut.
    const busLines = proxy.proc.output("stderr").split("\n").filter((l) => l.includes('"msg":"bus connected"'));
    const proxyPort = Number(JSON.parse(busLines.at(-1)!).url.split(":").at(-1));
    const others = cluster.nodes.filter((n) => n.amqpPort !== proxyPort);
    expect(others).toHaveLength(2);
    const root = resolve(import.meta.dir, "../..");
    const out = join(tempDir("vsb-consume-cluster-").path, "out.h264");
    const consume = spawnTracked(join(root, "node_modules/.bin/bun"), [
      "proxy/consume.ts", "--dataflow", String(id), "--api-url", proxy.base, "--amqp-url", others.map((n) => n.amqpUrl).join(","),
      "--out", out, "--json", "--seconds", "60",
    ], { cwd: root, name: "consume-cluster" });
    const statsLines = () => consume.output("stderr").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { frames: number });
    const frames = () => statsLines().reduce((sum, l) => sum + l.frames, 0);
    await waitUntil("vsb-consume receives frames", () => frames() > 30, { timeoutMs: 30_000, proc: consume });
    await others[0]!.kill();
    await consume.waitForLine(/resuming on the next node/, { timeoutMs: 10_000, stream: "stderr" });
    await consume.waitForLine(new RegExp(`consuming from "amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${others[1]!.amqpPort}"`), { timeoutMs: 10_000, stream: "stderr" });
    const atSwitch = frames();
    await waitUntil("frames again on the other node", () => frames() > atSwitch + 30, { timeoutMs: 15_000, proc: consume });
    consume.child.kill("SIGTERM");
    expect((await consume.exited).code).toBe(0);
    expect(consume.output("stderr")).toMatch(/wrote \d+ to .*out\.h264/);
    await others[0]!.start();
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
  }, 150_000);

  run("kill -9 of the node of a proxy's connection and event queue leader: events published right after and after the switch are heard by both proxies", async () => {
    // The tests above started their nodes again: every node running first.
    for (const n of cluster.nodes) await waitForPort(n.amqpPort, { timeoutMs: 90_000 });
    await waitUntil("3 nodes running", async () => (await cluster.runningNodes(cluster.nodes[0]).catch(() => [])).length === 3, { timeoutMs: 90_000 });
    // A second proxy (a replica) connected to n2 first: its queue's leader is n2 (client-local).
    const [x, y, z] = [cluster.nodes[1]!, cluster.nodes[2]!, cluster.nodes[0]!];
    const second = await startProxyUnderTest({ amqpUrl: [x, y, z].map((n) => n.amqpUrl).join(","), mqttUrl: cluster.mqttUrls[0]! }, 2);
    const followed = () => followedLines(second);
    const { queue } = await waitUntil("the second proxy follows the events", () => followed()[0], { timeoutMs: 15_000, proc: second.proc });
    expect(await waitUntil("its queue's leader", () => leaderOf(y, queue), { timeoutMs: 15_000 })).toBe(x.node);
    const conn = await amqp.connect(y.amqpUrl);
    const channel = await conn.createConfirmChannel();
    let nextId = 900_000 + Math.floor(Math.random() * 90_000);
    const publish = async () => {
      const id = nextId++;
      channel.publish(EVENTS_EXCHANGE, NEW_DATAFLOW, Buffer.from(JSON.stringify({ id, reason: "cluster test" })));
      await channel.waitForConfirms();
      return id;
    };
    const both = (id: number) => heard(proxy, id) && heard(second, id);
    const first = await publish();
    await waitUntil("both replicas hear an event", () => both(first), { timeoutMs: 10_000, proc: second.proc });
    const firstLeader = await leaderOf(y, followedLines(proxy).at(-1)?.queue ?? "");
    console.log(`first proxy's event queue leader: ${firstLeader}, second's: ${x.node} (killed)`);

    const killedAt = performance.now();
    await x.kill();
    const during = await publish(); // routed while the second proxy has no connection
    const confirmedMs = Math.round(performance.now() - killedAt);
    await waitUntil("the second proxy follows again on another node", () => followed().length > 1, { timeoutMs: 15_000, proc: second.proc });
    const after = await publish();
    await waitUntil("the event published during the switch is heard by both", () => both(during), { timeoutMs: 15_000, proc: second.proc });
    console.log(`kill -9 of ${x.node}: event confirmed after ${confirmedMs} ms, heard by the second proxy ${Math.round(performance.now() - killedAt)} ms after the kill`);
    await waitUntil("the event published after the switch is heard by both", () => both(after), { timeoutMs: 10_000, proc: second.proc });
    expect(await leaderOf(y, queue)).not.toBe(x.node);
    await conn.close().catch(() => undefined);
    await second.stop();
  }, 180_000);
});
