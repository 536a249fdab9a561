// Shared parts of the WHEP tests: a real proxy in-process (startProxy with the media path of
// main.ts: WHIP ingest, streams to RabbitMQ, WHEP playback, and the dashboard; real RabbitMQ), a live dataflow pushed by the agent's
// WhipPublisher from a gst test pattern (as in media_binary_test.ts), and a werift WHEP
// player that records what it receives. Loopback only.
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { CaptureStamper } from "../../agent/push/capture_stamp.ts";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { dashboardRoutes } from "../../proxy/dashboard/dashboard_routes.ts";
import type { WhipIngest } from "../../proxy/ingest/whip_ingest.ts";
import { configureLog, type LogLevel } from "../../proxy/log.ts";
import { type RunningProxy, startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";
import { mediaRoutesFor } from "../../proxy/media_routes.ts";
import type { Whep, WhepOptions } from "../../proxy/whep/whep_module.ts";
import { type Registration, ROUTE } from "../../shared/mod.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { getRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { spawnGstRtp, waitFor } from "./whip_harness.ts";

/** A proxy with WHIP, WHEP and the dashboard. */
export interface MediaProxy {
  proxy: RunningProxy;
  base: string;
  whep: Whep;
  ingest: WhipIngest;
  amqpUrl: string;
  /** `fetch` with the API token (when the proxy has one). */
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1 (ICE on 127.0.0.1 only) and waits for RabbitMQ. */
export async function startMediaProxy(options: { apiToken?: string; whep?: WhepOptions; argv?: string[] } = {}): Promise<MediaProxy> {
  configureLog({ level: (process.env.VSB_TEST_LOG ?? "silent") as LogLevel });
  const rabbit = await getRabbit();
  const dir = tempDir("vsb-whep-");
  const argv = ["--listen", "127.0.0.1:0", "--db", `${dir.path}/p.db`, "--amqp-url", rabbit.amqpUrl, "--ice-address", "127.0.0.1"];
  argv.push(...(options.argv ?? []));
  if (options.apiToken) argv.push("--api-token", `operator:${options.apiToken}`); // the dashboard is the operator's
  const config = loadConfig(argv, {}, readText);
  if (config.kind !== "run") throw new Error("expected a run config");
  let whep: Whep | undefined;
  let ingest: WhipIngest | undefined;
  const routes = mediaRoutesFor({ whep: options.whep, onWhep: (w) => (whep = w), onIngest: (i) => (ingest = i) });
  const proxy = await startProxy(config.config, { routes: (parts) => [...routes(parts), dashboardRoutes()] });
  const base = `http://127.0.0.1:${proxy.server.port}`;
  if (!(await waitFor(() => proxy.bus.connected, 15_000))) throw new Error("the proxy did not connect to RabbitMQ");
  const auth: Record<string, string> = options.apiToken ? { authorization: `Bearer ${options.apiToken}` } : {};
  return {
    proxy, base, whep: whep!, ingest: ingest!, amqpUrl: rabbit.amqpUrl,
    api: (path, init = {}) => fetch(`${base}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> ?? {}) } }),
    stop: async () => {
      await proxy.stop();
      dir.remove();
    },
  };
}

/** A dataflow registered and pushed live: gst test pattern (320x240, 30 fps) → WhipPublisher. */
export interface LiveFlow {
  reg: Registration;
  stop(): Promise<void>;
}

/** Registers a 320x240, 30 fps test-pattern dataflow. */
export async function registerFlow(media: MediaProxy): Promise<Registration> {
  const body = agentBody();
  body.videoInfo = { ...body.videoInfo!, width: 320, height: 240 };
  const res = await media.api(ROUTE.dataflows, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST /dataflows answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Registration;
}

/** Pushes registered dataflow `reg` until `stop()`; waits until it is live. */
export async function pushFlow(media: MediaProxy, reg: Registration, options: { keyint?: number } = {}): Promise<LiveFlow> {
  const pub = new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
  const gst = spawnGstRtp({ keyint: options.keyint ?? 30 });
  const stop = async () => {
    await gst.stop();
    await pub.close();
  };
  // Each picture stamped with its capture time as the agent does (agent/agent_ports.ts).
  const stamper = new CaptureStamper();
  void readRtpStream(gst.child.stdout!, (p) => pub.sendRtp(stamper.stamp(p, Date.now())));
  await pub.start();
  if (!(await waitFor(() => media.ingest.sessions.get(reg.id)?.state === "live", 10_000))) {
    await stop();
    throw new Error(`dataflow ${reg.id} did not go live`);
  }
  return { reg, stop };
}

/** Registers a test-pattern dataflow and pushes it until `stop()`; waits until it is live. */
export async function pushLiveFlow(media: MediaProxy, options: { keyint?: number } = {}): Promise<LiveFlow> {
  return pushFlow(media, await registerFlow(media), options);
}
