// TLS to the brokers on a REAL RabbitMQ with AMQPS and MQTTS listeners (tests/support/rabbitmq.ts
// `tls`), certificates made now by openssl (tests/support/test_ca.ts, as on branch https12): the proxy publishes
// and a consumer reads frames over amqps, the agent's control channel announces over mqtts, a
// wrong CA is refused with one log line naming the URL (password masked) and the CA file, and
// no log line of any of these runs holds the broker password given in the URLs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import { ControlChannel } from "../../agent/control/control_channel.ts";
import { createLogger, setLogLevel } from "../../agent/log.ts";
import { configureLog } from "../../proxy/log.ts";
import type { AccessUnit } from "../../proxy/media/frame_assembler.ts";
import { BusFrameOutput } from "../../proxy/outputs/bus_frame_output.ts";
import { DataflowMetadataSchema, EVENTS_EXCHANGE, NEW_DATAFLOW, TERMINATE_DATAFLOW, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { startTestProxy } from "../proxy/proxy_fixture.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { spawnTracked } from "../support/procs.ts";
import { hasRabbit, type Rabbit, startRabbit } from "../support/rabbitmq.ts";
import { issueCert, makeTestPki, type TestPki } from "../support/test_ca.ts";
import { waitUntil } from "../support/wait.ts";

const run = hasRabbit() ? test : test.skip;
if (!hasRabbit()) console.log("skipped broker TLS tests: RabbitMQ is not installed (run make setup)");

const USER = "vsb-tls";
/** The password every URL below carries: it must never appear in a log line. */
const SECRET = "Pw-9f2c41d7e0b8";
const repoRoot = join(import.meta.dir, "..", "..");

let pki: TestPki;
let rabbit: Rabbit;
/** Every log line of the proxy and the agent in this file. */
const lines: string[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

const amqpsUrl = () => `amqps://${USER}:${SECRET}@127.0.0.1:${rabbit.amqpsPort}`;
const mqttsUrl = () => `mqtts://${USER}:${SECRET}@127.0.0.1:${rabbit.mqttsPort}`;
const parsed = (from: string[]) => from.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  if (!hasRabbit()) return;
  pki = makeTestPki("vsb-bus-pki-");
  rabbit = await startRabbit({ tls: { caFile: pki.ca.certFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile } });
  await rabbit.addUser(USER, SECRET);
  configureLog({ level: "debug", sink: (line) => lines.push(line.trimEnd()) });
}, 120_000);

afterAll(async () => {
  configureLog({ level: "silent", sink: () => undefined });
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  await rabbit?.dispose();
  pki?.remove();
}, 60_000);

/** An AMQPS consumer (trusting the test CA) of `exchange` for `patterns`. */
async function tlsConsumer(exchange: string, patterns: string[]) {
  const model = await amqp.connect(amqpsUrl(), { ca: [pki.ca.certPem()] });
  const channel = await model.createChannel();
  const { queue } = await channel.assertQueue("", { exclusive: true });
  for (const p of patterns) await channel.bindQueue(queue, exchange, p);
  const got: amqp.ConsumeMessage[] = [];
  await channel.consume(queue, (m) => m && got.push(m), { noAck: true });
  cleanups.push(() => model.close());
  return got;
}

function unit(seq: number): AccessUnit {
  const data = new Uint8Array([0, 0, 0, 1, 0x65, seq & 0xff, 1, 2, 3]);
  return { data, nals: [data], keyframe: true, rtpTimestamp: seq * 3000, seq, firstPacketArrivalMs: Date.now(), width: 320, height: 240 };
}

describe("TLS to the brokers", () => {
  run("the proxy over amqps with --amqp-ca-file: ready, announces, and frames it publishes are consumed over amqps", async () => {
    const p = await startTestProxy(amqpsUrl(), ["--amqp-ca-file", pki.ca.certFile]);
    cleanups.push(p.stop);
    await waitUntil("proxy ready over amqps", async () => (await p.call("GET", "/ready")).status === 200, { timeoutMs: 15_000 });
    const events = await tlsConsumer(EVENTS_EXCHANGE, [TERMINATE_DATAFLOW]);
    const reg = (await p.call("POST", "/dataflows", agentBody())).body as { id: number };
    const frames = await tlsConsumer(VIDEO_EXCHANGE, [videoRoutingKey("*", reg.id)]);

    const metadata = DataflowMetadataSchema.parse(agentBody());
    const out = new BusFrameOutput(reg.id, { publisher: p.proxy.publisher, metadata: () => metadata, queueSeconds: 1 });
    out.sessionStarted();
    for (let seq = 0; seq < 10; seq++) out.push(unit(seq), { dataflowId: reg.id, sessionId: "tls" });
    await waitUntil("10 frames consumed over amqps", () => frames.length === 10, { timeoutMs: 10_000 });
    expect(out.confirmed).toBe(10);
    expect(frames.map((m) => m.content[5])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(frames[0]!.fields.routingKey).toBe(videoRoutingKey("h264", reg.id));

    await p.call("DELETE", `/dataflows/${reg.id}`);
    await waitUntil("terminatedataflow over amqps", () => events.some((m) => JSON.parse(m.content.toString()).id === reg.id), { timeoutMs: 10_000 });
    const connected = parsed(lines).find((l) => l.msg === "bus connected")!;
    expect(connected.url).toBe(`amqps://${USER}:***@127.0.0.1:${rabbit.amqpsPort}`);
  }, 60_000);

  run("the proxy with the wrong CA is refused: one line naming the masked URL and the CA file, still not ready", async () => {
    const before = lines.length;
    const p = await startTestProxy(amqpsUrl(), ["--amqp-ca-file", pki.otherCa.certFile]);
    cleanups.push(p.stop);
    await waitUntil("a failed connect logged", () => parsed(lines.slice(before)).some((l) => l.msg === "bus connect failed"), { timeoutMs: 15_000 });
    const failed = parsed(lines.slice(before)).filter((l) => l.msg === "bus connect failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: "warn", url: `amqps://${USER}:***@127.0.0.1:${rabbit.amqpsPort}`, caFile: pki.otherCa.certFile, attempt: 1 });
    expect(JSON.stringify(failed[0]!.error)).toMatch(/certificate|issuer/i);
    expect(JSON.stringify(failed[0])).not.toContain("    at "); // no stack trace
    expect(p.proxy.bus.connected).toBe(false);
    expect((await p.call("GET", "/ready")).status).toBe(503);
  }, 60_000);

  run("--amqp-cert-file/--amqp-key-file present a client certificate: the broker (verify_peer) takes ours and refuses one of another CA", async () => {
    const ours = pki.issue("proxy-client", { commonName: "vsb-proxy" });
    const rogue = issueCert(pki.otherCa, pki.dir, "rogue-client", { commonName: "vsb-proxy" });
    const good = await startTestProxy(amqpsUrl(), ["--amqp-ca-file", pki.ca.certFile, "--amqp-cert-file", ours.certFile, "--amqp-key-file", ours.keyFile]);
    cleanups.push(good.stop);
    await waitUntil("proxy with its client certificate ready", async () => (await good.call("GET", "/ready")).status === 200, { timeoutMs: 15_000 });
    const before = lines.length;
    const bad = await startTestProxy(amqpsUrl(), ["--amqp-ca-file", pki.ca.certFile, "--amqp-cert-file", rogue.certFile, "--amqp-key-file", rogue.keyFile]);
    cleanups.push(bad.stop);
    await waitUntil("the rogue certificate refused", () => parsed(lines.slice(before)).some((l) => l.msg === "bus connect failed"), { timeoutMs: 15_000 });
    expect(JSON.stringify(parsed(lines.slice(before)).find((l) => l.msg === "bus connect failed")!.error)).toMatch(/unknown ca|certificate|alert/i);
    expect(bad.proxy.bus.connected).toBe(false);
    expect(good.proxy.bus.connected).toBe(true);
  }, 60_000);

  run("vsb-consume with the wrong CA exits 1 with one line naming the masked URL and the CA file", async () => {
    const proc = spawnTracked("node_modules/.bin/bun", [
      "proxy/consume.ts", "--dataflow", "1", "--no-demand", "--amqp-url", amqpsUrl(), "--amqp-ca-file", pki.otherCa.certFile,
    ], { cwd: repoRoot, name: "vsb-consume" });
    const status = await proc.exited;
    const stderr = proc.output("stderr").trim();
    expect(status.code).toBe(1);
    expect(stderr.split("\n")).toHaveLength(1);
    expect(stderr).toContain(`"amqps://${USER}:***@127.0.0.1:${rabbit.amqpsPort}"`);
    expect(stderr).toContain(`CA file "${pki.otherCa.certFile}"`);
    expect(stderr).not.toContain(SECRET);
    lines.push(stderr);
  }, 30_000);

  run("the agent's control channel over mqtts with its CA: newdataflow and terminatedataflow reach a subscriber", async () => {
    const heard = await tlsConsumer(EVENTS_EXCHANGE, [NEW_DATAFLOW, TERMINATE_DATAFLOW]);
    const channel = new ControlChannel({
      urls: [mqttsUrl()], username: USER, password: SECRET, ca: pki.ca.certPem(), caFile: pki.ca.certFile,
      id: 4242, event: { id: 4242 }, log: createLogger({}, (line) => lines.push(line)), onSend: () => undefined,
    });
    cleanups.push(() => channel.close());
    await waitUntil("mqtts connected", () => channel.connected, { timeoutMs: 10_000 });
    expect(await channel.announce("new")).toBe(true);
    expect(await channel.announce("terminate", "ended")).toBe(true);
    await waitUntil("both announcements heard", () => heard.length === 2, { timeoutMs: 5_000 });
    expect(heard.map((m) => [m.fields.routingKey, JSON.parse(m.content.toString()).id])).toEqual([[NEW_DATAFLOW, 4242], [TERMINATE_DATAFLOW, 4242]]);
    await channel.close();
    const connected = parsed(lines).find((l) => l.msg === "mqtt connected")!;
    expect(connected.url).toBe(`mqtts://${USER}:***@127.0.0.1:${rabbit.mqttsPort}`);
  }, 30_000);

  run("the agent's --mqtt-cert-file/--mqtt-key-file present a client certificate: ours connects, another CA's is refused", async () => {
    const ours = pki.issue("agent-client", { commonName: "vsb-agent" });
    const rogue = issueCert(pki.otherCa, pki.dir, "rogue-agent", { commonName: "vsb-agent" });
    const open = (cert: { certPem(): string; keyPem(): string }, id: number, sink: string[]) => {
      const channel = new ControlChannel({
        urls: [mqttsUrl()], username: USER, password: SECRET, ca: pki.ca.certPem(), caFile: pki.ca.certFile, cert: cert.certPem(), key: cert.keyPem(),
        id, event: { id }, log: createLogger({}, (line) => sink.push(line)), onSend: () => undefined,
      });
      cleanups.push(() => channel.close());
      return channel;
    };
    const good = open(ours, 4244, lines);
    const refused: string[] = [];
    const bad = open(rogue, 4245, refused);
    await waitUntil("ours connected", () => good.connected, { timeoutMs: 10_000 });
    await waitUntil("the rogue certificate refused", () => parsed(refused).some((l) => l.msg === "mqtt failed"), { timeoutMs: 10_000 });
    expect(bad.connected).toBe(false);
    await Promise.all([good.close(), bad.close()]);
    lines.push(...refused);
  }, 30_000);

  run("the agent with the wrong CA is refused: one warning naming the masked URL and the CA file while it keeps retrying", async () => {
    const own: string[] = [];
    setLogLevel("debug");
    const channel = new ControlChannel({
      urls: [mqttsUrl()], username: USER, password: SECRET, ca: pki.otherCa.certPem(), caFile: pki.otherCa.certFile,
      id: 4243, event: { id: 4243 }, log: createLogger({}, (line) => own.push(line)), onSend: () => undefined,
      controlKey: "a2V5LW9mLXRoZS1icm9rZXItdGxzLXRlc3QtcGVlcg", // as registered: the only warning is the refusal
    });
    cleanups.push(() => channel.close());
    try {
      // The reconnect loop goes on (one debug line per attempt); the warning is said once.
      await waitUntil("three failed attempts", () => parsed(own).filter((l) => l.msg === "mqtt failed").length >= 3, { timeoutMs: 15_000 });
    } finally {
      setLogLevel("info");
      await channel.close();
      lines.push(...own);
    }
    const warnings = parsed(own).filter((l) => l.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: "mqtt failed", url: `mqtts://${USER}:***@127.0.0.1:${rabbit.mqttsPort}`, caFile: pki.otherCa.certFile });
    expect(String(warnings[0]!.error)).toMatch(/certificate|issuer/i);
    expect(String(warnings[0]!.error)).not.toContain("    at ");
    expect(channel.connected).toBe(false);
  }, 30_000);

  for (const [which, ok] of [["its CA", true], ["the wrong CA", false]] as const) {
    run(`under real Deno, the agent's control channel over mqtts with ${which} ${ok ? "announces" : "is refused with one warning"}`, async () => {
      const heard = await tlsConsumer(EVENTS_EXCHANGE, [NEW_DATAFLOW]);
      const id = ok ? 4250 : 4251;
      const deno = join(repoRoot, "node_modules/.bin/deno");
      const denoDir = mkdtempSync(join(tmpdir(), "vsb-deno-dir-"));
      cleanups.push(() => rmSync(denoDir, { recursive: true, force: true }));
      const proc = spawnTracked(deno, ["run", "-A", "--no-check", "tests/e2e/mqtts_deno_peer.ts"], {
        cwd: repoRoot, name: "mqtts-deno-peer",
        env: {
          DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", NO_COLOR: "1",
          PEER_MQTT_URL: mqttsUrl(), PEER_MQTT_USER: USER, PEER_MQTT_PASSWORD: SECRET, PEER_ID: String(id),
          PEER_CA_FILE: ok ? pki.ca.certFile : pki.otherCa.certFile,
        },
      });
      const status = await proc.exited;
      const own = proc.output("stderr").split("\n").filter((l) => l.startsWith("{"));
      lines.push(...own);
      if (ok) {
        expect(status.code).toBe(0);
        await waitUntil("newdataflow from the Deno peer", () => heard.some((m) => JSON.parse(m.content.toString()).id === id), { timeoutMs: 5_000 });
        expect(parsed(own).find((l) => l.msg === "mqtt connected")!.url).toBe(`mqtts://${USER}:***@127.0.0.1:${rabbit.mqttsPort}`);
      } else {
        expect(status.code).toBe(3);
        const warnings = parsed(own).filter((l) => l.level === "warn");
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatchObject({ msg: "mqtt failed", url: `mqtts://${USER}:***@127.0.0.1:${rabbit.mqttsPort}`, caFile: pki.otherCa.certFile });
        expect(String(warnings[0]!.error)).toMatch(/certificate|issuer|UnknownIssuer/i);
      }
    }, 60_000);
  }

  run("no log line of these runs holds the broker password", () => {
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.filter((l) => l.includes(SECRET))).toEqual([]);
    expect(lines.some((l) => l.includes(`${USER}:***@`))).toBe(true);
  });
});
