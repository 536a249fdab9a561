// The WHIP ingest inside the real proxy (startProxy + whipRoutesFor, real RabbitMQ): a
// registered dataflow's ingest token and whipUrl work for a werift publisher, the dataflow
// shows `live`, and a session that ends (WHIP DELETE, dataflow deleted) is announced with
// `terminatedataflow`. With the media routes (which follow the bus's dataflow events), an end
// the agent announced itself over MQTT is not announced a second time.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import { ControlChannel } from "../../agent/control/control_channel.ts";
import { createLogger } from "../../agent/log.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import type { WhipIngest } from "../../proxy/ingest/whip_ingest.ts";
import { whipRoutesFor } from "../../proxy/ingest/whip_ingest.ts";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { mediaRoutesFor } from "../../proxy/media_routes.ts";
import { configureLog } from "../../proxy/log.ts";
import { startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";
import { DataflowMetadataSchema, EVENTS_EXCHANGE, PATH, SDP_CONTENT_TYPE, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { type RecordedSession, recordingSinks, replayFixture, waitFor } from "./whip_harness.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skip: WHIP-in-proxy test needs RabbitMQ (run make setup)");

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

async function terminations(amqpUrl: string) {
  const model = await amqp.connect(amqpUrl);
  cleanups.push(() => model.close());
  const channel = await model.createChannel();
  const q = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(q.queue, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
  const got: { id: number; reason?: string; atMs: number }[] = [];
  await channel.consume(q.queue, (m) => m && got.push({ ...JSON.parse(m.content.toString()), atMs: Date.now() }), { noAck: true });
  return got;
}

describe("WHIP ingest in the proxy", () => {
  run("ingest token and whipUrl from POST /dataflows work; live state; ends announce terminatedataflow", async () => {
    configureLog({ level: "silent" });
    const rabbit = await getRabbit();
    const dir = mkdtempSync(join(tmpdir(), "vsb-whip-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const argv = ["--listen", "127.0.0.1:0", "--db", join(dir, "p.db"), "--amqp-url", rabbit.amqpUrl, "--ice-address", "127.0.0.1"];
    const config = loadConfig(argv, {}, readText);
    if (config.kind !== "run") throw new Error("expected a config");
    const sessions: RecordedSession[] = [];
    let ingest: WhipIngest | undefined;
    const proxy = await startProxy(config.config, { routes: whipRoutesFor(() => recordingSinks(sessions), { onIngest: (i) => (ingest = i) }) });
    cleanups.push(() => proxy.stop());
    cleanups.push(() => ingest?.close());
    const base = `http://127.0.0.1:${proxy.server.port}`;
    expect(await waitFor(() => proxy.bus.connected, 10_000)).toBe(true);
    const ended = await terminations(rabbit.amqpUrl);

    const register = async () => {
      const res = await fetch(`${base}/dataflows`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(agentBody()) });
      expect(res.status).toBe(201);
      return (await res.json()) as { id: number; ingest: { whipUrl: string; token: string } };
    };
    const push = (reg: { ingest: { whipUrl: string; token: string } }) => {
      const pub = new WhipPublisher({
        url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}),
      });
      cleanups.push(() => pub.close());
      return pub;
    };

    const a = await register();
    const b = await register();
    expect(a.ingest.whipUrl).toBe(`${base}${PATH.whip(a.id)}`);
    // Another dataflow's token is refused.
    const wrong = await fetch(a.ingest.whipUrl, { method: "POST", headers: { "content-type": SDP_CONTENT_TYPE, authorization: `Bearer ${b.ingest.token}` }, body: "v=0\r\n" });
    expect(wrong.status).toBe(401);

    const pubA = push(a);
    await pubA.start();
    const replay = replayFixture((p) => pubA.sendRtp(p));
    cleanups.push(() => replay.stop());
    expect(await waitFor(() => (sessions[0]?.packets ?? 0) > 30, 15_000)).toBe(true);
    const state = async (id: number) => (await (await fetch(`${base}${PATH.dataflow(id)}`)).json()).state;
    expect(await state(a.id)).toBe("live");

    replay.stop();
    await pubA.close(); // WHIP DELETE
    expect(await waitFor(() => ended.some((e) => e.id === a.id), 15_000)).toBe(true);
    expect(ended.find((e) => e.id === a.id)?.reason).toBe("delete");
    expect(await state(a.id)).toBe("idle");

    // The dataflow is deleted while it streams: the session ends, the registry announces it.
    const pubB = push(b);
    await pubB.start();
    expect(await waitFor(() => pubB.state === "connected", 15_000)).toBe(true);
    expect((await fetch(`${base}${PATH.dataflow(b.id)}`, { method: "DELETE" })).status).toBeLessThan(300);
    expect(await waitFor(() => sessions.find((s) => s.info.dataflowId === b.id)?.closedWith !== undefined, 10_000)).toBe(true);
    expect(sessions.find((s) => s.info.dataflowId === b.id)?.closedWith).toBe("dataflow-expired");
    expect(await waitFor(() => ended.some((e) => e.id === b.id), 15_000)).toBe(true);
    expect(ingest?.sessions.list().length).toBe(0);
  }, 90_000);

  run("exactly one terminatedataflow per session: the agent's own over MQTT, else the proxy's", async () => {
    configureLog({ level: "silent" });
    const rabbit = await getRabbit();
    const dir = mkdtempSync(join(tmpdir(), "vsb-whip-ends-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const argv = ["--listen", "127.0.0.1:0", "--db", join(dir, "p.db"), "--amqp-url", rabbit.amqpUrl, "--ice-address", "127.0.0.1"];
    const config = loadConfig(argv, {}, readText);
    if (config.kind !== "run") throw new Error("expected a config");
    const proxy = await startProxy(config.config, { routes: mediaRoutesFor() });
    cleanups.push(() => proxy.stop());
    const base = `http://127.0.0.1:${proxy.server.port}`;
    expect(await waitFor(() => proxy.bus.connected, 10_000)).toBe(true);
    // The proxy's event follower has bound its queue once it hears a probe of its own (a
    // fixed pause was too short on a busy host: the agent's end went unheard).
    const probe = 900_000 + Math.floor(Math.random() * 90_000);
    const metadata = DataflowMetadataSchema.parse(agentBody());
    await waitUntil("the proxy's event follower", () => {
      proxy.announcer.dataflowEvent(TERMINATE_DATAFLOW, probe, metadata, "probe");
      return proxy.events.terminationsSince(probe, 0).length > 0;
    }, { timeoutMs: 15_000, intervalMs: 200 });
    const ended = await terminations(rabbit.amqpUrl);
    const session = async () => {
      const res = await fetch(`${base}/dataflows`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(agentBody()) });
      const reg = (await res.json()) as { id: number; ingest: { whipUrl: string; token: string } };
      const pub = new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
      cleanups.push(() => pub.close());
      await pub.start();
      expect(await waitFor(() => pub.state === "connected", 15_000)).toBe(true);
      return { id: reg.id, pub };
    };

    // The agent's step 9: terminatedataflow over MQTT together with the WHIP DELETE.
    const a = await session();
    const control = new ControlChannel({
      urls: [rabbit.mqttUrl], id: a.id, event: { ...agentBody(), id: a.id }, log: createLogger({}, () => {}), onSend: () => undefined,
    });
    cleanups.push(() => control.close());
    expect(await waitFor(() => control.connected, 10_000)).toBe(true);
    await Promise.all([control.announce("terminate", "stopped"), a.pub.close()]);
    // A publisher without MQTT (a browser, OBS): the proxy announces the end, once.
    const b = await session();
    const deletedAt = Date.now();
    await b.pub.close();
    expect(await waitFor(() => ended.some((e) => e.id === b.id), 15_000)).toBe(true);
    await Bun.sleep(2000);
    expect(ended.filter((e) => e.id === a.id).map((e) => e.reason)).toEqual(["stopped"]);
    const bEnds = ended.filter((e) => e.id === b.id);
    expect(bEnds.map((e) => e.reason)).toEqual(["delete"]);
    expect(bEnds[0]!.atMs - deletedAt).toBeGreaterThanOrEqual(900); // after the grace for the agent's own
  }, 90_000);
});
