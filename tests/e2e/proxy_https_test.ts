// HTTPS end to end (#12 "TLS everywhere"): a real vsb-proxy serving --tls-cert/--tls-key made
// at test time by openssl, a real RabbitMQ, and real agents:
// - the agent source under the pinned Deno (Deno.createHttpClient) with --proxy-ca-file
//   discovers, registers, keeps alive and pushes over https; frames reach RabbitMQ;
// - SIGHUP with renewed files: new connections get the new certificate while that stream and
//   its keep-alives go on (same dataflow, frames keep coming); a broken pair is refused with
//   the old certificate kept;
// - the built binary (Bun's fetch) registers trusting the CA, and with a wrong CA it is refused
//   with a one-line certificate error and registers nothing;
// - vsb-consume takes its demand lease over https with --api-ca-file, and is refused with a
//   wrong one.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import tls from "node:tls";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { freePort } from "../support/ports.ts";
import { type Proc, spawnTracked, waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import { makeTestPki, type TestPki } from "../support/test_ca.ts";
import {
  agentBinary, type BusWatch, denoBinary, emptyDir, registeredId, startAgent, startAgentUnderDeno, watchBus,
} from "./agent_e2e_harness.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const parts = hasRabbit() && hasElements("x264enc", "rtpstreampay", "clockoverlay") && denoBinary() !== undefined;
const run = skipUnless(parts, "needs rabbitmq-server, GStreamer (x264enc, rtpstreampay, clockoverlay) and deno");

let rabbit: Rabbit;
let pki: TestPki;
let bus: BusWatch;
let proxy: Proc;
let base: string;
let port: number;
let certFile: string;
let keyFile: string;

/** fetch trusting the test CA only. */
function fetchCa(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { ...init, tls: { ca: pki.ca.certPem() } } as RequestInit);
}

/** Serial number of the certificate a new TLS connection to the proxy gets. */
function peerSerial(): Promise<string> {
  return new Promise((resolvePeer, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: pki.ca.certPem() }, () => {
      resolvePeer(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.end();
    });
    socket.on("error", reject);
  });
}

function agentArgs(extra: string[]): string[] {
  return [
    "--source", "test", "--width", "320", "--height", "240", "--fps", "30", "--bitrate", "500",
    "--lat", "43.295778", "--lon", "-1.980823", "--discovery-url", base, "--no-mqtt", "--ice-address", "127.0.0.1", ...extra,
  ];
}

async function demand(id: number): Promise<void> {
  const res = await fetchCa(ROUTE.demands, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ dataflowId: id, ttlSeconds: 120 }),
  });
  expect(res.status).toBe(201);
  await res.body?.cancel();
}

describe("vsb-proxy over HTTPS with agents and vsb-consume", () => {
  beforeAll(async () => {
    if (!parts) return;
    rabbit = await getRabbit();
    pki = makeTestPki("vsb-https-e2e-");
    bus = await watchBus(rabbit.amqpUrl);
    agentBinary(); // built before the clocks below start
    const dir = emptyDir("vsb-https-proxy-");
    // Copies the proxy reads; the reload test overwrites them as a renewal would.
    certFile = join(dir, "tls.crt");
    keyFile = join(dir, "tls.key");
    copyFileSync(pki.server.certFile, certFile);
    copyFileSync(pki.server.keyFile, keyFile);
    port = await freePort();
    base = `https://127.0.0.1:${port}`;
    proxy = spawnTracked(BUN, [
      "proxy/main.ts", "--listen", `127.0.0.1:${port}`, "--db", join(dir, "vsb.db"), "--amqp-url", rabbit.amqpUrl,
      "--mqtt-url", rabbit.mqttUrl, "--keepalive-seconds", "1", "--ice-address", "127.0.0.1",
      "--tls-cert", certFile, "--tls-key", keyFile,
    ], { cwd: ROOT, name: "proxy-https" });
    const started = JSON.parse(await proxy.waitForLine(/"msg":"proxy started"/, { timeoutMs: 20_000, stream: "stderr" }));
    // Derived without --public-url: the whipUrl and discovery agents get say https.
    expect(started.publicUrl).toBe(base);
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    pki?.remove();
  });

  run("Deno agent with --proxy-ca-file: https discovery, registration, WHIP; SIGHUP renews the certificate, the stream goes on", async () => {
    expect(await peerSerial()).toBe(pki.server.serial);
    const agent = startAgentUnderDeno(agentArgs(["--proxy-ca-file", pki.ca.certFile]), "agent-deno-https");
    const id = await registeredId(agent, 30_000);
    const record = await fetchCa(PATH.dataflow(id));
    expect(((await record.json()) as { whipUrl: string }).whipUrl).toStartWith(`${base}/`);
    await demand(id);
    await waitUntil("30 frames over the https-negotiated WHIP session", () => bus.framesOf(id).length >= 30, { timeoutMs: 30_000, proc: agent });

    // A broken renewal (a key of another certificate) is refused; the old certificate stays.
    const other = pki.issue("other-pair");
    copyFileSync(pki.server.certFile, certFile);
    copyFileSync(other.keyFile, keyFile);
    proxy.child.kill("SIGHUP");
    const failed = JSON.parse(await proxy.waitForLine(/"msg":"tls reload failed/, { timeoutMs: 10_000, stream: "stderr" }));
    expect(failed.error).toBe(`--tls-key "${keyFile}" is not the key of --tls-cert "${certFile}"`);
    expect(await peerSerial()).toBe(pki.server.serial);

    // The real renewal.
    const renewed = pki.issue("renewed");
    writeFileSync(certFile, renewed.certPem());
    writeFileSync(keyFile, renewed.keyPem());
    const framesBefore = bus.framesOf(id).length;
    proxy.child.kill("SIGHUP");
    const reloaded = JSON.parse(await proxy.waitForLine(/"msg":"tls certificate reloaded"/, { timeoutMs: 10_000, stream: "stderr" }));
    expect(reloaded.fingerprint256).toBe(renewed.fingerprint256);
    expect(await peerSerial()).toBe(renewed.serial);
    // The stream did not notice: frames keep coming for 3 s (three keep-alive periods, each over a
    // new or kept https connection), the dataflow is still the one first registered and active.
    await waitUntil("90 more frames after the reload", () => bus.framesOf(id).length >= framesBefore + 90, { timeoutMs: 20_000, proc: agent });
    const after = await fetchCa(PATH.dataflow(id));
    expect(((await after.json()) as { active: boolean }).active).toBe(true);
    const log = agent.output("stderr");
    expect(log.match(/"msg":"registered"/g)?.length).toBe(1);
    expect(log).not.toContain("keep-alive failed");
    expect(log).not.toContain("WHIP session failed");
    agent.child.kill("SIGTERM");
    expect((await agent.exited).code).toBe(0);
  }, 120_000);

  run("the built binary (Bun's fetch) trusts --proxy-ca-file; with a wrong CA it is refused in one line and registers nothing", async () => {
    const good = startAgent(agentArgs(["--proxy-ca-file", pki.ca.certFile]), "agent-bin-https");
    const id = await registeredId(good, 30_000);
    expect(id).toBeGreaterThan(0);
    good.child.kill("SIGTERM");
    expect((await good.exited).code).toBe(0);

    const listed = async () => ((await (await fetchCa(`${ROUTE.dataflows}?active=true`)).json()) as unknown[]).length;
    const activeBefore = await listed();
    const wrong = startAgent(agentArgs(["--proxy-ca-file", pki.otherCa.certFile]), "agent-bin-wrong-ca");
    const line = await wrong.waitForLine(/"msg":"(discovery|registration) failed"/, { timeoutMs: 30_000, stream: "stderr" });
    const event = JSON.parse(line);
    console.log(`wrong CA: ${event.error}`);
    expect(event.error).toMatch(/certificate|issuer|verify/i);
    expect(wrong.output("stderr")).not.toContain('"msg":"registered"');
    expect(await listed()).toBe(activeBefore);
    await wrong.stop();
  }, 120_000);

  run("vsb-consume takes its lease over https with --api-ca-file; a wrong CA is one line and exit 1", async () => {
    const consume = (ca: string, name: string) => spawnTracked(BUN, [
      "proxy/consume.ts", "--quadkey", "0", "--api-url", base, "--api-ca-file", ca, "--amqp-url", rabbit.amqpUrl, "--seconds", "2", "--quiet",
    ], { cwd: ROOT, name });
    const ok = consume(pki.ca.certFile, "consume-https");
    await ok.waitForLine(/holding demand lease/, { timeoutMs: 20_000, stream: "stderr" });
    expect((await ok.exited).code).toBe(0);

    const bad = consume(pki.otherCa.certFile, "consume-wrong-ca");
    const status = await bad.exited;
    const lines = bad.output("stderr").trim().split("\n");
    console.log(`vsb-consume, wrong CA: ${lines.at(-1)}`);
    expect(status.code).toBe(1);
    expect(lines.at(-1)).toMatch(/^vsb-consume: POST "https:\/\/127\.0\.0\.1:\d+\/demands" failed: .*(certificate|issuer|verify)/i);
  }, 60_000);
});
