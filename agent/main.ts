/**
 * vsb-agent: captures H.264 with a gst-launch-1.0 child, registers it with the MEC, keeps it
 * alive, and pushes it over WHIP while a consumer wants it (DESIGN.md, steps 1–9).
 * Exit codes: 0 done, 1 failed, 2 bad configuration.
 */
import { readFileSync } from "node:fs";
import { DISCOVERY_ZOOM, HEADER_ZOOM, maskUrl, quadkey } from "../shared/mod.ts";
import { agentPorts, type ResolvedConfig } from "./agent_ports.ts";
import { CaptureSupervisor } from "./capture/capture_supervisor.ts";
import { pipelineArgv, shellQuote } from "./capture/pipeline.ts";
import { CaptureError, preflight } from "./capture/preflight.ts";
import { sourceEnds } from "./capture/source_spec.ts";
import { CaptureStats } from "./capture_stats.ts";
import { helpText, optionsMarkdown } from "./config/help_text.ts";
import { ControlCounters } from "./control/control_verifier.ts";
import { ConfigError, ignoredEnv, loadConfig } from "./config/load_config.ts";
import { SensorFlow } from "./flow.ts";
import { readPositionFile } from "./location/position_file.ts";
import { createLogger, errorText, type Logger, setLogLevel } from "./log.ts";
import { environment, exitProcess, hostname, onSignal, programArgs, runtimeName, writeStderrLine, writeStdout } from "./runtime.ts";
import { StatusReporter } from "./status.ts";
import { startWatchdog } from "../shared/runtime/watchdog.ts";

/** Longer than this without packets while streaming means the capture is wedged. */
const CAPTURE_STALL_MS = 20_000;

/** Version of the agent (also registered nowhere; printed by `--version`). */
export const VERSION = "0.1.0";

function fail(code: number, message: string): never {
  writeStderrLine(`vsb-agent: ${message}`);
  return exitProcess(code);
}

function configure(args: string[]): ResolvedConfig {
  try {
    const config = loadConfig({ args, env: environment(), readFile: (path) => readFileSync(path, "utf8") });
    return { ...config, sourceId: config.sourceId ?? hostname(), keyint: config.keyint ?? config.fps };
  } catch (error) {
    if (error instanceof ConfigError) fail(2, error.message);
    throw error;
  }
}

async function check(config: ResolvedConfig): Promise<void> {
  const position = config.lat !== undefined ? { lat: config.lat, lon: config.lon! } : readPositionFile(config.positionFile!);
  await preflight(config);
  writeStdout([
    `quadkey ${DISCOVERY_ZOOM}: ${quadkey(position.lat, position.lon, DISCOVERY_ZOOM)}`,
    `quadkey ${HEADER_ZOOM}: ${quadkey(position.lat, position.lon, HEADER_ZOOM)}`,
    `pipeline: ${shellQuote([config.gstLaunch, ...pipelineArgv(config)])}`,
    `argv: ${JSON.stringify([config.gstLaunch, ...pipelineArgv(config)])}`,
    "",
  ].join("\n"));
}

async function run(config: ResolvedConfig, log: Logger): Promise<number> {
  await preflight(config);
  const stats = new CaptureStats();
  const control = new ControlCounters();
  const status = new StatusReporter({ log: log.child({ component: "status" }), stats, control, statusFile: config.statusFile });
  const ports = agentPorts(config, log.child({ component: "flow" }), stats, control);
  const flow = new SensorFlow(ports, {
    ttlSeconds: config.ttl,
    keepRegistration: config.keepRegistration,
    onState: (state, info) => {
      status.onState(state, info.id);
      streaming = state === "starting" || state === "streaming" || state === "reconnecting";
    },
  });
  // A file played once ends the session as --ttl does (WHIP DELETE, deregister, exit 0).
  if (sourceEnds(config.source, config.loop) && ports.capture instanceof CaptureSupervisor) {
    ports.capture.endOnCleanExit(() => void flow.shutdown("source ended"));
  }
  // Health for the systemd watchdog: while the flow should stream, packets keep arriving.
  let streaming = false;
  let seen = { packets: -1, at: Date.now() };
  const healthy = () => {
    if (stats.packets !== seen.packets || !streaming) seen = { packets: stats.packets, at: Date.now() };
    return Date.now() - seen.at < CAPTURE_STALL_MS;
  };
  let signals = 0;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    onSignal(signal, () => {
      if (++signals > 1) fail(1, `${signal} again: exiting at once`);
      void flow.shutdown(signal);
    });
  }
  log.info("started", { version: VERSION, runtime: runtimeName, source: config.source.kind === "rtsp" ? { ...config.source, url: maskUrl(config.source.url) } : config.source, sourceId: config.sourceId });
  status.start();
  const stopWatchdog = startWatchdog({ env: environment(), healthy, warn: (msg, fields) => log.warn(msg, fields) });
  await flow.run();
  stopWatchdog();
  status.stop();
  ports.close();
  log.info("exited", { reason: "flow stopped" });
  return 0;
}

async function main(): Promise<void> {
  const args = programArgs();
  if (args.includes("--help")) return writeStdout(helpText(VERSION));
  if (args.includes("--help-markdown")) return writeStdout(optionsMarkdown());
  if (args.includes("--version")) return writeStdout(`vsb-agent ${VERSION} (${runtimeName})\n`);
  const config = configure(args);
  setLogLevel(config.logLevel);
  const log = createLogger({ component: "agent" });
  for (const { name, value, reason } of ignoredEnv(environment())) log.warn("env variable ignored", { name, value, reason });
  try {
    if (config.check) await check(config);
    else exitProcess(await run(config, log));
  } catch (error) {
    if (error instanceof CaptureError || error instanceof RangeError) fail(1, error.message);
    fail(1, `failed: ${errorText(error)}`);
  }
}

await main();
