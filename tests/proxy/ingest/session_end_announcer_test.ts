// SessionEndAnnouncer on a REAL RabbitMQ (tests/support/rabbitmq.ts): the proxy's publisher and
// its dataflow-events follower on AMQP, the agent's own ControlChannel on MQTT. Exactly one
// `terminatedataflow` per session: none from the proxy when the agent announced the end (even a
// little after DELETE), one when nobody did; an end heard before the session began, or the
// proxy's own announcement of an earlier session, does not count.
import { afterAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { createLogger } from "../../../agent/log.ts";
import { ControlChannel } from "../../../agent/control/control_channel.ts";
import { Announcer } from "../../../proxy/bus/announcer.ts";
import { BusConnection } from "../../../proxy/bus/bus_connection.ts";
import { Publisher } from "../../../proxy/bus/publisher.ts";
import { SESSION_END_MESSAGE_ID, SessionEndAnnouncer } from "../../../proxy/ingest/session_end_announcer.ts";
import type { SessionSummary } from "../../../proxy/ingest/session_registry.ts";
import { configureLog, logger } from "../../../proxy/log.ts";
import { DataflowEvents } from "../../../proxy/outputs/dataflow_events.ts";
import { DataflowMetadataSchema, EVENTS_EXCHANGE, TERMINATE_DATAFLOW } from "../../../shared/mod.ts";
import { getRabbit, hasRabbit } from "../../support/rabbitmq.ts";
import { waitUntil } from "../../support/wait.ts";
import { agentBody } from "../sensor_body.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped SessionEndAnnouncer tests: RabbitMQ is not installed (run make setup)");
configureLog({ level: "silent" });

const GRACE_MS = 500;
const metadata = DataflowMetadataSchema.parse(agentBody());
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Dataflow ids of this file only (the broker may be shared with other test files). */
let nextId = 700_000 + Math.floor(Math.random() * 100_000);

async function setUp() {
  const rabbit = await getRabbit();
  const bus = new BusConnection({ url: rabbit.amqpUrl });
  const publisher = new Publisher(bus);
  const announcer = new Announcer(publisher);
  const events = new DataflowEvents(bus, logger("events"));
  bus.start();
  cleanups.push(() => bus.stop());
  const ends = new SessionEndAnnouncer({ announcer, metadataOf: () => metadata, heard: events, graceMs: GRACE_MS, log: logger("ingest") });
  // Everything `terminatedataflow` on amq.topic, as a consumer sees it.
  const model = await amqp.connect(rabbit.amqpUrl);
  cleanups.push(() => model.close());
  const channel = await model.createChannel();
  const q = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(q.queue, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
  const got: { id: number; reason?: string; messageId?: string }[] = [];
  await channel.consume(q.queue, (m) => m && got.push({ ...JSON.parse(m.content.toString()), messageId: m.properties.messageId }), { noAck: true });
  // The follower is bound once it hears a probe of its own.
  const probe = nextId++;
  await waitUntil("events followed", () => {
    announcer.dataflowEvent(TERMINATE_DATAFLOW, probe, metadata, "probe");
    return events.terminationsSince(probe, 0).length > 0;
  }, { timeoutMs: 15_000, intervalMs: 200 });
  const agent = async (id: number) => {
    const control = new ControlChannel({
      urls: [rabbit.mqttUrl], id, event: { ...metadata, id }, log: createLogger({}, () => {}), onSend: () => undefined,
    });
    cleanups.push(() => control.close());
    await waitUntil("agent on MQTT", () => control.connected, { timeoutMs: 10_000 });
    return control;
  };
  const endsOf = (id: number) => got.filter((e) => e.id === id);
  return { ends, events, agent, endsOf };
}

const session = (dataflowId: number, sessionId: string, createdAt = Date.now()): SessionSummary => ({
  dataflowId, sessionId, createdAt, state: "closed",
  counters: { packets: 0, bytes: 0, nackedSeqs: 0, nackPackets: 0, plisSent: 0, plisCoalesced: 0, sinkErrors: 0, rtcpSendErrors: 0 },
});

describe("SessionEndAnnouncer on real RabbitMQ", () => {
  run("an end the agent announced over MQTT (up to the grace after DELETE) is not announced again", async () => {
    const t = await setUp();
    const id = nextId++;
    const control = await t.agent(id);
    const s = session(id, "agent-late");
    t.ends.sessionEnded(s, "delete");
    await sleep(200); // the agent's announcement comes after its DELETE
    expect(await control.announce("terminate", "stopped")).toBe(true);
    await sleep(GRACE_MS + 700);
    expect(t.endsOf(id)).toEqual([expect.objectContaining({ id, reason: "stopped" })]);

    // Announced before the session ended (the agent's usual order): still only its own.
    const id2 = nextId++;
    const control2 = await t.agent(id2);
    const s2 = session(id2, "agent-first");
    expect(await control2.announce("terminate", "stopped")).toBe(true);
    t.ends.sessionEnded(s2, "delete");
    await sleep(GRACE_MS + 700);
    expect(t.endsOf(id2)).toHaveLength(1);
    expect(t.ends.counts.alreadyAnnounced).toBe(2);
    expect(t.ends.counts.announced).toBe(0);
  }, 60_000);

  run("a session whose end nobody announced gets exactly one terminatedataflow, after the grace", async () => {
    const t = await setUp();
    const id = nextId++;
    t.ends.sessionEnded(session(id, "silent"), "ice-failed");
    await sleep(GRACE_MS / 2);
    expect(t.endsOf(id)).toEqual([]);
    await waitUntil("proxy's terminatedataflow", () => t.endsOf(id).length > 0, { timeoutMs: 5_000 });
    await sleep(500);
    expect(t.endsOf(id)).toEqual([expect.objectContaining({ id, reason: "ice-failed", messageId: `${SESSION_END_MESSAGE_ID}silent` })]);
  }, 60_000);

  run("an end heard before the session began, or announced for an earlier session, does not count", async () => {
    const t = await setUp();
    const id = nextId++;
    const control = await t.agent(id);
    expect(await control.announce("terminate", "stopped")).toBe(true); // ends an earlier session
    await waitUntil("agent's end heard", () => t.events.terminationsSince(id, 0).length > 0, { timeoutMs: 5_000 });
    await sleep(20);
    const first = session(id, "first");
    t.ends.sessionEnded(first, "delete"); // nobody announces this one: the proxy will
    await sleep(100);
    const second = session(id, "second"); // began before the proxy announced the first one
    await sleep(GRACE_MS + 500); // the proxy's end of "first" is heard during "second"
    expect(t.endsOf(id).map((e) => e.messageId)).toEqual([undefined, `${SESSION_END_MESSAGE_ID}first`]);
    t.ends.sessionEnded(second, "media-timeout");
    await waitUntil("end of the second session", () => t.endsOf(id).length === 3, { timeoutMs: 5_000 });
    await sleep(500);
    expect(t.endsOf(id).map((e) => e.reason)).toEqual(["stopped", "delete", "media-timeout"]);
  }, 60_000);

  run("close() announces pending ends at once (the proxy is stopping)", async () => {
    const t = await setUp();
    const id = nextId++;
    t.ends.sessionEnded(session(id, "at-stop"), "delete");
    t.ends.close();
    await waitUntil("terminatedataflow", () => t.endsOf(id).length > 0, { timeoutMs: GRACE_MS - 100 });
  }, 60_000);
});
