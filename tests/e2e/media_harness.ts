// Shared parts of the media e2e tests: the real `bun proxy/main.ts` process on loopback, a
// registered dataflow, a gst x264 → WhipPublisher (agent/push) sender, an AMQP frame consumer,
// and decoding with avdec_h264. Every process is tracked and stopped by pid.
import { join } from "node:path";
import amqp from "amqplib";
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { EVENTS_EXCHANGE, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { freePort, freeUdpPortRange } from "../support/ports.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitForHttp } from "../support/wait.ts";
import { spawnGstRtp, waitFor } from "./whip_harness.ts";

const root = new URL("../..", import.meta.url).pathname;

/** A running `bun proxy/main.ts`. */
export interface ProxyProcess {
  base: string;
  proc: Proc;
  udpBase: number;
  stop(): Promise<void>;
}

/** Starts the real proxy binary against `amqpUrl` on free loopback ports. */
export async function startProxyProcess(amqpUrl: string, extra: string[] = []): Promise<ProxyProcess> {
  const dir = tempDir("vsb-media-");
  const port = await freePort();
  const udpBase = await freeUdpPortRange(4);
  const proc = spawnTracked(process.execPath, [
    join(root, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", join(dir.path, "vsb.db"), "--amqp-url", amqpUrl,
    "--ice-address", "127.0.0.1", "--udp-forward-host", "127.0.0.1", "--udp-ports", `${udpBase}-${udpBase + 3}`,
    "--log-level", "info", ...(extra.includes("--keepalive-seconds") ? [] : ["--keepalive-seconds", "60"]), ...extra,
  ], { cwd: root, name: "vsb-proxy", keepLines: 5000 });
  const base = `http://127.0.0.1:${port}`;
  // proc: a proxy that could not bind fails the wait at once, with its output, instead of
  // timing out (or reaching whatever else answers on that port).
  await waitForHttp(`${base}/ready`, { timeoutMs: 30_000, proc });
  return {
    base, proc, udpBase,
    async stop() {
      await proc.stop();
      dir.remove();
    },
  };
}

/** Registration answer of POST /dataflows. */
export interface Registered {
  id: number;
  ingest: { whipUrl: string; token: string };
  /** The body's `dataSourceInfo.sourceId`: unique per call (see `register`). */
  sourceId: string;
}

let registrations = 0;

/** `agentBody()` with a `dataSourceInfo.sourceId` no other call in this run gets. */
export function uniqueAgentBody(): ReturnType<typeof agentBody> & { dataSourceInfo: { sourceId: string } } {
  const metadata = agentBody();
  return { ...metadata, dataSourceInfo: { ...metadata.dataSourceInfo, sourceId: `e2e-${process.pid}-${++registrations}` } };
}

/**
 * Registers a 320x240 30 fps agent dataflow (`fields` added to its body, e.g. `{ udpForward: true }`).
 * Its `dataSourceInfo.sourceId` is unique to this call: every test's proxy starts its ids at 1
 * on one shared RabbitMQ, so a late event of another test's dataflow 1 is told apart by it
 * (`consumeEvents(…).of(reg)`).
 */
export async function register(base: string, fields: Record<string, unknown> = {}): Promise<Registered> {
  const metadata = uniqueAgentBody();
  const sourceId = metadata.dataSourceInfo.sourceId;
  const body = JSON.stringify({ ...metadata, ...fields });
  const res = await fetch(`${base}/dataflows`, { method: "POST", headers: { "content-type": "application/json" }, body });
  if (res.status !== 201) throw new Error(`POST /dataflows answered ${res.status}: ${await res.text()}`);
  return { ...await res.json() as Omit<Registered, "sourceId">, sourceId };
}

/** A gst x264 → WhipPublisher sender (the agent's own publisher). */
export interface Sender {
  pub: WhipPublisher;
  gst: Proc;
  stop(): Promise<void>;
}

/** Starts gst and pushes its RTP to `reg`'s WHIP URL; resolves once connected. */
export async function startSender(reg: Registered, gstOptions: Parameters<typeof spawnGstRtp>[0] = {}): Promise<Sender> {
  const pub = new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
  const gst = spawnGstRtp(gstOptions);
  void readRtpStream(gst.child.stdout!, (p) => pub.sendRtp(p));
  await pub.start();
  if (!(await waitFor(() => pub.state === "connected", 10_000))) throw new Error(`publisher did not connect (state "${pub.state}")`);
  return {
    pub, gst,
    async stop() {
      await gst.stop();
      await pub.close();
    },
  };
}

/** One frame message as a consumer got it. */
export interface Got {
  body: Buffer;
  headers: Record<string, unknown>;
}

/** An AMQP consumer of `routingKey` on `exchange` (exclusive queue); `close()` ends it. */
export async function consumeKey(amqpUrl: string, exchange: string, routingKey: string) {
  const model = await amqp.connect(amqpUrl);
  const channel = await model.createChannel();
  await channel.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const q = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(q.queue, exchange, routingKey);
  const got: Got[] = [];
  await channel.consume(q.queue, (m) => m && got.push({ body: m.content, headers: m.properties.headers ?? {} }), { noAck: true });
  return { got, close: () => model.close().catch(() => undefined) };
}

/** The frames of dataflow `id`. */
export function consumeFrames(amqpUrl: string, id: number) {
  return consumeKey(amqpUrl, VIDEO_EXCHANGE, videoRoutingKey("h264", id));
}

/** An event body as the tests read it. */
export interface GotEvent {
  id: number;
  reason?: string;
  dataSourceInfo?: { sourceId?: string };
}

/** The `terminatedataflow` (or other event) bodies on amq.topic; `of(reg)`: only those of `reg`'s dataflow (its id and sourceId). */
export async function consumeEvents(amqpUrl: string, key: string) {
  const c = await consumeKey(amqpUrl, EVENTS_EXCHANGE, key);
  const events = () => c.got.map((g) => JSON.parse(g.body.toString()) as GotEvent);
  const of = (reg: Pick<Registered, "id" | "sourceId">) => events().filter((e) => e.id === reg.id && e.dataSourceInfo?.sourceId === reg.sourceId);
  return { events, of, close: c.close };
}

/** Decodes an Annex-B file with avdec_h264; the number of pictures it produced. */
export async function decodedPictures(file: string): Promise<number> {
  const dec = spawnTracked("gst-launch-1.0", [
    "-v", "filesrc", `location=${file}`, "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "silent=false", "sync=false",
  ], { name: "avdec", keepLines: 100_000 });
  await dec.exited;
  return dec.output("stdout").split("\n").filter((l) => l.includes("last-message = chain")).length;
}

/** Value of the Prometheus series `name{labels}` (first match), or undefined. */
export function metric(text: string, name: string, labels = ""): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const [series, value] = line.split(" ");
    if (series === `${name}${labels}` || (labels === "" && series === name)) return Number(value);
  }
  return undefined;
}
