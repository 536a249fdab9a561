// A real RabbitMQ (the Debian package's server, without systemd) for tests and `make demo`:
// its own temp dir, its own epmd, 127.0.0.1 only, free AMQP/MQTT/epmd/dist ports, the MQTT and
// AMQP 1.0 plugins on (AMQP 1.0 shares the 0-9-1 listener: the protocol header picks one).
//
// Why a template: RabbitMQ 3.10's MQTT plugin waits 3-6 s on a node's very first boot for
// cluster peers before it opens its port. A data dir that has booted once skips that wait,
// so the first start on a machine makes `.tmp/rabbitmq-template-<version>` and every start
// after that copies it (about 5 s instead of 10 s). VSB_RABBIT_TEMPLATE=0 turns this off.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "amqplib";
import { freePorts, LOOPBACK } from "./ports.ts";
import { rabbitTlsLines } from "./rabbitmq_tls_lines.ts";
import { onCleanup, spawnTracked, type Proc } from "./procs.ts";
import { waitForPort, waitUntil } from "./wait.ts";

/** A running (or stopped) RabbitMQ instance. */
export interface Rabbit {
  readonly host: string;
  readonly amqpPort: number;
  readonly mqttPort: number;
  /** `amqp://guest:guest@127.0.0.1:{amqpPort}` */
  readonly amqpUrl: string;
  /**
   * The same URL for an AMQP 1.0 client (Qpid Proton): RabbitMQ 3.10's `rabbitmq_amqp1_0`
   * answers AMQP 1.0 on the 0-9-1 port, told apart by the protocol header a client sends first.
   */
  readonly amqp10Url: string;
  /** `mqtt://127.0.0.1:{mqttPort}` (MQTT 3.1.1 only: use mqtt.js `protocolVersion: 4`). */
  readonly mqttUrl: string;
  /** With `tls`: the AMQPS (TLS) port, else undefined. */
  readonly amqpsPort?: number;
  /** With `tls`: the MQTTS (TLS) port, else undefined. */
  readonly mqttsPort?: number;
  /** With `tls`: `amqps://guest:guest@127.0.0.1:{amqpsPort}`. */
  readonly amqpsUrl?: string;
  /** With `tls`: `mqtts://127.0.0.1:{mqttsPort}`. */
  readonly mqttsUrl?: string;
  /** Adds a broker user with full rights on vhost `/` (rabbitmqctl), e.g. to test that its password never shows. */
  addUser(name: string, password: string): Promise<void>;
  /** Its temp dir (config, data, logs). */
  readonly dir: string;
  /** Pid of the running server: Debian's rabbitmq-server wrapper, whose process group holds beam.smp. */
  pid(): number | undefined;
  /** Stops the broker and its epmd (ports freed); data stays for `start()`. */
  stop(): Promise<void>;
  /** Kills the broker with SIGKILL, like a crash; epmd stays. */
  kill(): Promise<void>;
  /** Starts it again on the same ports with the same data, and waits until it is ready. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
  /** Stops it and removes its temp dir (done at exit for every instance). */
  dispose(): Promise<void>;
  /** The broker's recent output and log file, for failure messages. */
  log(): string;
  /** Its Erlang node name. */
  readonly node: string;
  /** Runs `rabbitmqctl -n NODE args` against it; its output, or throws with it. */
  ctl(args: string[]): Promise<string>;
}

/** Options of `startRabbit()`. */
export interface RabbitOptions {
  /** How long to wait for readiness; default 90000 ms (env VSB_RABBIT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Mirror the broker's output to stderr; default env VSB_TEST_ECHO=1. */
  echo?: boolean;
  /**
   * TLS listeners for AMQP and MQTT on two more free ports (beside the plain ones), with this
   * server certificate and key (PEM) and the CA it presents (ssl_options). Clients are not asked
   * for a certificate.
   */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /** Erlang node name; default "vsb@localhost" (another name starts from an empty data dir, no template). */
  node?: string;
  /** An epmd on this port that someone else runs (cluster members share one); default: its own. */
  sharedEpmdPort?: number;
  /** The Erlang cookie (written to $HOME/.erlang.cookie); cluster members need the same. Default: Erlang makes one. */
  cookie?: string;
}

const NODE = "vsb@localhost";
const LIB = "/usr/lib/rabbitmq/lib";
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The Debian package's unwrapped server script, or undefined when RabbitMQ is not installed. */
export function rabbitServerScript(): string | undefined {
  if (process.env.VSB_RABBITMQ_SERVER) return process.env.VSB_RABBITMQ_SERVER;
  let dirs: string[] = [];
  try {
    dirs = readdirSync(LIB).filter((d) => d.startsWith("rabbitmq_server-")).sort();
  } catch {
    return undefined;
  }
  const script = dirs.length ? join(LIB, dirs[dirs.length - 1]!, "sbin", "rabbitmq-server") : undefined;
  return script && existsSync(script) ? script : undefined;
}

/** True when a RabbitMQ server is installed here. */
export function hasRabbit(): boolean {
  return rabbitServerScript() !== undefined;
}

let shared: Promise<Rabbit> | undefined;

/**
 * The one RabbitMQ shared by all tests of this run, started on first use. Do not stop it: use
 * `startRabbit()` for that. If it died (bun kills a timed-out test's processes), it is started again.
 */
export async function getRabbit(): Promise<Rabbit> {
  shared ??= startRabbit();
  const rabbit = await shared;
  if (rabbit.pid() === undefined) await rabbit.start();
  return rabbit;
}

/** A private RabbitMQ instance (for tests that stop, kill or restart the broker). Disposed at exit. */
export async function startRabbit(options: RabbitOptions = {}): Promise<Rabbit> {
  const script = rabbitServerScript();
  if (!script) throw new Error(`RabbitMQ is not installed: no "${LIB}/rabbitmq_server-*/sbin/rabbitmq-server" (run make setup)`);
  const dir = mkdtempSync(join(tmpdir(), "vsb-rabbitmq-"));
  const [amqpPort, mqttPort, epmdPort, distPort, amqpsPort, mqttsPort] = await freePorts(options.tls ? 6 : 4);
  const ports: Ports = { amqpPort: amqpPort!, mqttPort: mqttPort!, epmdPort: options.sharedEpmdPort ?? epmdPort!, distPort: distPort! };
  if (options.tls) Object.assign(ports, { amqpsPort: amqpsPort!, mqttsPort: mqttsPort! });
  const instance = new Instance(script, dir, ports, options);
  onCleanup(() => instance.dispose(), () => rmSync(dir, { recursive: true, force: true }));
  try {
    if ((options.node ?? NODE) === NODE) await seedFromTemplate(script, dir, { ...options, tls: undefined });
    await instance.start();
  } catch (error) {
    await instance.dispose();
    throw error;
  }
  return instance;
}

type Ports = { amqpPort: number; mqttPort: number; epmdPort: number; distPort: number; amqpsPort?: number; mqttsPort?: number };

class Instance implements Rabbit {
  readonly host = LOOPBACK;
  readonly amqpPort: number;
  readonly mqttPort: number;
  readonly amqpUrl: string;
  readonly amqp10Url: string;
  readonly mqttUrl: string;
  readonly amqpsPort?: number;
  readonly mqttsPort?: number;
  readonly amqpsUrl?: string;
  readonly mqttsUrl?: string;
  #server: Proc | undefined;
  #epmd: Proc | undefined;
  #disposed = false;
  #starting: Promise<void> | undefined;
  /** Its Erlang node name. */
  readonly node: string;

  constructor(private readonly script: string, readonly dir: string, private readonly ports: Ports, private readonly options: RabbitOptions) {
    this.node = options.node ?? NODE;
    this.amqpPort = ports.amqpPort;
    this.mqttPort = ports.mqttPort;
    this.amqpUrl = `amqp://guest:guest@${LOOPBACK}:${ports.amqpPort}`;
    this.amqp10Url = this.amqpUrl;
    this.mqttUrl = `mqtt://${LOOPBACK}:${ports.mqttPort}`;
    if (ports.amqpsPort && ports.mqttsPort) {
      this.amqpsPort = ports.amqpsPort;
      this.mqttsPort = ports.mqttsPort;
      this.amqpsUrl = `amqps://guest:guest@${LOOPBACK}:${ports.amqpsPort}`;
      this.mqttsUrl = `mqtts://${LOOPBACK}:${ports.mqttsPort}`;
    }
    writeConfig(dir, ports, options.tls);
    if (options.cookie) {
      writeFileSync(join(dir, ".erlang.cookie"), options.cookie, { mode: 0o400 });
    }
  }

  pid(): number | undefined {
    return this.#server?.exitStatus() ? undefined : this.#server?.pid;
  }

  start(): Promise<void> {
    // Concurrent callers share one start.
    this.#starting ??= this.#start().finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.#disposed) throw new Error(`RabbitMQ in "${this.dir}" was disposed`);
    if (this.pid() !== undefined) return;
    const timeoutMs = this.options.timeoutMs ?? Number(process.env.VSB_RABBIT_TIMEOUT_MS ?? 90_000);
    const echo = this.options.echo;
    if (this.options.sharedEpmdPort === undefined && (!this.#epmd || this.#epmd.exitStatus())) {
      this.#epmd = spawnTracked("epmd", ["-port", String(this.ports.epmdPort), "-address", LOOPBACK], { name: "epmd", echo, infrastructure: true });
      await waitForPort(this.ports.epmdPort, { proc: this.#epmd, timeoutMs: 10_000 });
    }
    const server = spawnTracked(this.script, [], { name: `rabbitmq ${this.node}`, env: serverEnv(this.dir, this.ports, this.node), echo, infrastructure: true });
    this.#server = server;
    try {
      await waitForPort(this.amqpPort, { proc: server, timeoutMs, intervalMs: 100 });
      await waitForPort(this.mqttPort, { proc: server, timeoutMs, intervalMs: 100 });
      if (this.amqpsPort) await waitForPort(this.amqpsPort, { proc: server, timeoutMs, intervalMs: 100 });
      if (this.mqttsPort) await waitForPort(this.mqttsPort, { proc: server, timeoutMs, intervalMs: 100 });
      await waitUntil(`an AMQP connection to ${this.amqpUrl}`, async () => {
        const connection = await connect(this.amqpUrl);
        await connection.close();
        return true;
      }, { proc: server, timeoutMs: 10_000, intervalMs: 100 });
    } catch (error) {
      throw new Error(`RabbitMQ did not become ready in "${this.dir}"\n${this.log()}`, { cause: error });
    }
  }

  async addUser(name: string, password: string): Promise<void> {
    await this.ctl(["add_user", name, password]);
    await this.ctl(["set_permissions", "-p", "/", name, ".*", ".*", ".*"]);
  }

  /** Runs `rabbitmqctl -n NODE args` against this node; its output, or throws with it. */
  async ctl(args: string[]): Promise<string> {
    const ctl = join(dirname(this.script), "rabbitmqctl");
    const env = serverEnv(this.dir, this.ports, this.node);
    const proc = spawnTracked(ctl, ["-n", this.node, ...args], { name: "rabbitmqctl", env, echo: this.options.echo });
    const status = await proc.exited;
    if (status.code !== 0) throw new Error(`rabbitmqctl ${args.join(" ")} failed (${status.code ?? status.signal}): ${proc.output()}`);
    return proc.output();
  }

  async stop(): Promise<void> {
    // TERM only the broker (not its group): it then shuts down cleanly, flushing durable data.
    await this.#server?.stop({ signals: ["SIGTERM", "SIGKILL"], graceMs: 15_000, group: false });
    await this.#epmd?.stop({ signals: ["SIGTERM", "SIGKILL"], graceMs: 2000 });
  }

  async kill(): Promise<void> {
    await this.#server?.stop({ signals: ["SIGKILL"], graceMs: 5000 });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  log(): string {
    return [this.#server?.output() ?? "", readLogTail(this.dir, this.node)].join("\n").slice(-6000);
  }
}

function writeConfig(dir: string, ports: Ports, tls?: RabbitOptions["tls"]) {
  const tlsLines = tls && ports.amqpsPort && ports.mqttsPort ? rabbitTlsLines({ amqps: `${LOOPBACK}:${ports.amqpsPort}`, mqtts: `${LOOPBACK}:${ports.mqttsPort}` }, tls) : [];
  mkdirSync(join(dir, "log"), { recursive: true });
  writeFileSync(join(dir, "rabbitmq-env.conf"), "# empty: keeps /etc/rabbitmq/rabbitmq-env.conf out\n");
  writeFileSync(join(dir, "enabled_plugins"), "[rabbitmq_mqtt,rabbitmq_amqp1_0].\n");
  writeFileSync(join(dir, "rabbitmq.conf"), [
    `listeners.tcp.1 = ${LOOPBACK}:${ports.amqpPort}`,
    `mqtt.listeners.tcp.1 = ${LOOPBACK}:${ports.mqttPort}`,
    "mqtt.allow_anonymous = true",
    ...tlsLines,
    "log.console = false",
    "log.file.level = info",
    "",
  ].join("\n"));
}

function serverEnv(dir: string, ports: Ports, node = NODE): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  // Inherited RabbitMQ/Erlang settings would leak into this instance: drop them.
  for (const key of Object.keys(process.env)) {
    if (key.startsWith("RABBITMQ_") || key.startsWith("ERL_")) env[key] = undefined;
  }
  return {
    ...env,
    NOTIFY_SOCKET: undefined,
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
    RABBITMQ_NODE_PORT: String(ports.amqpPort),
    RABBITMQ_DIST_PORT: String(ports.distPort),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
    ERL_EPMD_ADDRESS: LOOPBACK,
    ERL_EPMD_PORT: String(ports.epmdPort),
    // Our epmd is tracked; never let erl start an untracked one. Distribution on loopback only.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
  };
}

function readLogTail(dir: string, node = NODE): string {
  try {
    return readFileSync(join(dir, "log", `${node}.log`), "utf8").slice(-3000);
  } catch {
    return ""; // No log file yet: the broker did not get far enough to write one.
  }
}

/** Copies the booted-once data dir into `dir/mnesia`, making the template first when needed. */
async function seedFromTemplate(script: string, dir: string, options: RabbitOptions) {
  if (process.env.VSB_RABBIT_TEMPLATE === "0") return;
  const version = script.match(/rabbitmq_server-([^/]+)/)?.[1] ?? "unknown";
  const template = join(repoRoot, ".tmp", `rabbitmq-template-${version}`);
  if (!existsSync(join(template, "origin"))) await makeTemplate(script, template, options);
  cpSync(join(template, "mnesia"), join(dir, "mnesia"), { recursive: true });
  // Ra (MQTT client-id tracking) keeps its absolute data dir in a text "config" term file.
  const origin = readFileSync(join(template, "origin"), "utf8");
  const ra = join(dir, "mnesia", NODE, "coordination", NODE);
  for (const server of existsSync(ra) ? readdirSync(ra) : []) {
    const config = join(ra, server, "config");
    if (!existsSync(config)) continue;
    writeFileSync(config, readFileSync(config, "utf8").replaceAll(origin, join(dir, "mnesia")));
  }
}

async function makeTemplate(script: string, template: string, options: RabbitOptions) {
  mkdirSync(join(repoRoot, ".tmp"), { recursive: true });
  sweepStaleStaging(template);
  const staging = mkdtempSync(`${template}.staging-`);
  const [amqpPort, mqttPort, epmdPort, distPort] = await freePorts(4);
  const instance = new Instance(script, staging, { amqpPort: amqpPort!, mqttPort: mqttPort!, epmdPort: epmdPort!, distPort: distPort! }, options);
  try {
    await instance.start();
    await instance.stop();
    writeFileSync(join(staging, "origin"), join(staging, "mnesia"));
    if (existsSync(template)) rmSync(template, { recursive: true, force: true }); // a broken leftover (no data dir)
    try {
      renameSync(staging, template);
    } catch (error) {
      // Another test run made the template at the same moment: use theirs.
      if (!existsSync(join(template, "origin"))) throw error;
    }
  } finally {
    await instance.dispose();
  }
}

/** Removes staging dirs an interrupted run left behind (older than 10 minutes). */
function sweepStaleStaging(template: string) {
  const parent = dirname(template);
  const prefix = `${basename(template)}.staging-`;
  for (const entry of readdirSync(parent)) {
    const path = join(parent, entry);
    if (entry.startsWith(prefix) && Date.now() - statSync(path).mtimeMs > 10 * 60_000) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}
