// Parts of the agent end-to-end tests: the BUILT agent binary (copied into an empty directory,
// started with an almost empty environment) or the agent source under the pinned Deno, a real
// vsb-proxy, and an AMQP consumer that watches events and frames on the real RabbitMQ.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import amqp from "amqplib";
import {
  EVENTS_EXCHANGE,
  NEW_DATAFLOW,
  PATH,
  ROUTE,
  TERMINATE_DATAFLOW,
  VIDEO_EXCHANGE,
  videoBindingPattern,
} from "../../shared/mod.ts";
import { freePort } from "../support/ports.ts";
import { onCleanup, type Proc, spawnTracked, waitForHttp } from "../support/procs.ts";
import { type Rabbit, rabbitServerScript } from "../support/rabbitmq.ts";

const ROOT = resolve(import.meta.dir, "../..");
let built: string | undefined;

/** Builds dist/vsb-agent once per run (scripts/build_agent.sh) and returns its path. */
export function agentBinary(): string {
  if (built) return built;
  const result = spawnSync("scripts/build_agent.sh", [], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) throw new Error(`scripts/build_agent.sh failed: ${result.stderr}`);
  built = join(ROOT, "dist", "vsb-agent");
  return built;
}

/** An empty directory removed after the run. */
export function emptyDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A running vsb-proxy. */
export interface ProxyUnderTest {
  base: string;
  port: number;
  proc: Proc;
  stop(): Promise<void>;
  /** Starts it again on the same port and database. */
  start(): Promise<void>;
}

/** Starts vsb-proxy on 127.0.0.1 with a fresh store; keep-alive period `keepaliveSeconds`; `start: false` only picks its port. */
export async function startProxyUnderTest(
  rabbit: { amqpUrl: string; mqttUrl: string },
  keepaliveSeconds = 2,
  options: { start?: boolean } = {},
): Promise<ProxyUnderTest> {
  const port = await freePort();
  const dir = emptyDir("vsb-proxy-");
  const base = `http://127.0.0.1:${port}`;
  const args = [
    "proxy/main.ts", "--listen", `127.0.0.1:${port}`, "--db", join(dir, "vsb.db"), "--amqp-url", rabbit.amqpUrl,
    "--mqtt-url", rabbit.mqttUrl, "--keepalive-seconds", String(keepaliveSeconds), "--public-url", base,
    "--ice-address", "127.0.0.1",
  ];
  const p: ProxyUnderTest = {
    base,
    port,
    proc: undefined as unknown as Proc,
    stop: async () => void (await p.proc.stop()),
    start: async () => {
      p.proc = spawnTracked(join(ROOT, "node_modules/.bin/bun"), args, { cwd: ROOT, name: "proxy" });
      await waitForHttp(`${base}${ROUTE.health}`, { timeoutMs: 15_000, proc: p.proc });
    },
  };
  if (options.start ?? true) await p.start();
  return p;
}

/** Environment with nothing but PATH (as on a bare device). */
export function bareEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const key of Object.keys(process.env)) env[key] = undefined;
  env.PATH = "/usr/bin:/bin";
  return env;
}

/** Copies the built binary into an empty directory and starts it there with `args`. */
export function startAgent(args: string[], name = "agent"): Proc {
  const dir = emptyDir("vsb-agent-");
  const bin = join(dir, "vsb-agent");
  copyFileSync(agentBinary(), bin);
  return spawnTracked(bin, args, { cwd: dir, env: bareEnv(), name });
}

/** The pinned Deno (package.json devDependency "deno"), or undefined when it is not installed. */
export function denoBinary(): string | undefined {
  const deno = join(ROOT, "node_modules/.bin/deno");
  return existsSync(deno) ? deno : undefined;
}

/**
 * Starts the agent SOURCE under the pinned Deno: `deno run -A --no-check agent/main.ts args`,
 * from the repository root (deno.json there sets nodeModulesDir "manual", so npm imports come
 * from node_modules and nothing is downloaded). The environment is PATH plus what Deno itself
 * reads: a fresh DENO_DIR (its caches; otherwise it falls back to $HOME/.cache, and HOME is
 * unset), no update check, no permission prompt, no ANSI colours in its own messages.
 * `wrap` prefixes the command line, e.g. to run it in a network namespace (`ip netns exec NS …`).
 */
export function startAgentUnderDeno(args: string[], name = "agent-deno", options: { wrap?: (argv: string[]) => string[] } = {}): Proc {
  const deno = denoBinary();
  if (!deno) throw new Error(`deno is not installed at "${join(ROOT, "node_modules/.bin/deno")}"`);
  const env = {
    ...bareEnv(),
    DENO_DIR: emptyDir("vsb-deno-dir-"),
    DENO_NO_UPDATE_CHECK: "1",
    DENO_NO_PROMPT: "1",
    NO_COLOR: "1",
  };
  const [command, ...argv] = (options.wrap ?? ((a) => a))([deno, "run", "-A", "--no-check", "agent/main.ts", ...args]);
  return spawnTracked(command!, argv, { cwd: ROOT, env, name });
}

/** Common agent flags for a 320x240 test pattern against `proxy`. */
export function agentArgs(proxy: ProxyUnderTest, mqttUrl: string | undefined, extra: string[] = []): string[] {
  return [
    "--source", "test", "--width", "320", "--height", "240", "--fps", "30", "--bitrate", "500",
    "--lat", "43.295778", "--lon", "-1.980823", "--registration-url", proxy.base,
    ...(mqttUrl ? ["--mqtt-url", mqttUrl] : ["--no-mqtt"]), "--ice-address", "127.0.0.1", ...extra,
  ];
}

/** The dataflow id from the agent's "registered" log line. */
export async function registeredId(agent: Proc, timeoutMs = 15_000): Promise<number> {
  const line = await agent.waitForLine(/"msg":"registered"/, { timeoutMs, stream: "stderr" });
  return JSON.parse(line).id as number;
}

/** Takes a demand lease for dataflow `id`; returns its id. */
export async function demand(proxy: ProxyUnderTest, id: number, ttlSeconds = 120): Promise<string> {
  const res = await fetch(`${proxy.base}${ROUTE.demands}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ dataflowId: id, ttlSeconds }),
  });
  if (res.status !== 201) throw new Error(`POST demand answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** Ends a demand lease. */
export async function withdraw(proxy: ProxyUnderTest, demandId: string): Promise<void> {
  const res = await fetch(`${proxy.base}${PATH.demand(demandId)}`, { method: "DELETE" });
  await res.body?.cancel();
}

/** What an AMQP consumer saw on the bus. */
export interface BusWatch {
  events: { key: string; id: number; reason?: string; at: number }[];
  /** Frame arrival times (ms, performance.now()) per dataflow id. */
  frames: Map<number, number[]>;
  framesOf(id: number): number[];
  close(): Promise<void>;
}

/** Consumes `newdataflow`, `terminatedataflow` and every frame from RabbitMQ. */
export async function watchBus(amqpUrl: string): Promise<BusWatch> {
  const conn = await amqp.connect(amqpUrl);
  const ch = await conn.createChannel();
  await ch.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
  const q = await ch.assertQueue("", { exclusive: true, autoDelete: true });
  await ch.bindQueue(q.queue, EVENTS_EXCHANGE, NEW_DATAFLOW);
  await ch.bindQueue(q.queue, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
  await ch.bindQueue(q.queue, VIDEO_EXCHANGE, videoBindingPattern());
  const watch: BusWatch = {
    events: [],
    frames: new Map(),
    framesOf: (id) => watch.frames.get(id) ?? [],
    close: async () => {
      await ch.close().catch(() => {});
      await conn.close().catch(() => {});
    },
  };
  await ch.consume(q.queue, (msg) => {
    if (!msg) return;
    const key = msg.fields.routingKey;
    if (msg.fields.exchange === VIDEO_EXCHANGE) {
      const id = Number(key.split(".").at(-1));
      const list = watch.frames.get(id) ?? [];
      list.push(performance.now());
      watch.frames.set(id, list);
    } else {
      try {
        const body = JSON.parse(msg.content.toString());
        watch.events.push({ key, id: Number(body.id), reason: body.reason, at: performance.now() });
      } catch {
        watch.events.push({ key, id: NaN, at: performance.now() });
      }
    }
  }, { noAck: true });
  onCleanup(() => watch.close());
  return watch;
}

/** The proxy's /metrics: `total(name)` sums every series of `name` (0 when it has none). */
export async function proxyMetrics(proxy: ProxyUnderTest): Promise<{ text: string; total(name: string): number }> {
  const text = await (await fetch(`${proxy.base}${ROUTE.metrics}`)).text();
  const total = (name: string) =>
    text.split("\n").filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
  return { text, total };
}

/**
 * Runs one of RabbitMQ's CLI tools (`rabbitmq-plugins`, `rabbitmqctl`) against `rabbit`'s own
 * node and resolves with its output. Every instance is named vsb@localhost; what picks this
 * one is its epmd port and its cookie's HOME, read from the running broker's environment
 * (/proc/PID/environ), so a private broker's tool never reaches the shared one.
 */
export async function rabbitCli(rabbit: Rabbit, tool: "rabbitmq-plugins" | "rabbitmqctl", args: string[], timeoutMs = 60_000): Promise<string> {
  const pid = rabbit.pid();
  const script = rabbitServerScript();
  if (pid === undefined || !script) throw new Error(`${tool} ${args.join(" ")}: RabbitMQ in "${rabbit.dir}" is not running`);
  const env: Record<string, string | undefined> = Object.fromEntries(Object.keys(process.env).map((key) => [key, undefined]));
  for (const entry of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const at = entry.indexOf("=");
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  if (env.HOME !== rabbit.dir) throw new Error(`${tool}: pid ${pid} is not the broker of "${rabbit.dir}" (HOME "${env.HOME}")`);
  const proc = spawnTracked(join(dirname(script), tool), args, { env, name: tool });
  const drained = new Promise((done) => proc.child.once("close", done)); // all output read
  const timer = setTimeout(() => void proc.stop(), timeoutMs);
  const status = await proc.exited.finally(() => clearTimeout(timer));
  await drained;
  if (status.code !== 0) throw new Error(`${tool} ${args.join(" ")} exited ${status.code ?? status.signal}: ${proc.output()}`);
  return proc.output();
}
