/**
 * vsb-proxy's entry point: `bun proxy/main.ts [options]`. Exit codes: 0 after a signal,
 * 1 when it could not start, 2 for a bad option or an unusable `--db` (corrupt, unwritable,
 * full: one line on stderr naming it; systemd does not restart on 2). SIGHUP re-reads the
 * --tls-cert/--tls-key files.
 */
import { ConfigError, loadConfig, requireAuthOffLoopback, shownConfig } from "./config/load_config.ts";
import { helpText, optionsMarkdown } from "./config/help.ts";
import { configureLog, logger } from "./log.ts";
import { StartError, startProxy } from "./proxy.ts";
import { dashboardRoutes } from "./dashboard/dashboard_routes.ts";
import { mediaRoutesFor } from "./media_routes.ts";
import { startWatchdog } from "../shared/runtime/watchdog.ts";
import { args, env, exit, guardProcess, onReload, onShutdown, printErr, printOut, readText } from "./runtime.ts";

const log = logger("proxy");

async function main(): Promise<void> {
  let result;
  try {
    result = loadConfig(args(), env(), readText);
    if (result.kind === "run" || result.kind === "check") requireAuthOffLoopback(result.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    printErr(`vsb-proxy: ${err.message}\n`);
    exit(2);
  }
  if (result.kind === "help") return printOut(helpText());
  if (result.kind === "help-markdown") return printOut(optionsMarkdown());
  if (result.kind === "check") return printOut(shownConfig(result.config));
  configureLog({ level: result.config.logLevel });
  guardProcess((msg, fields) => log.error(msg, fields));
  let proxy;
  try {
    proxy = await startProxy(result.config, { routes: (parts) => [...mediaRoutesFor()(parts), dashboardRoutes()] });
  } catch (error) {
    log.error("proxy start failed", { error });
    if (error instanceof StartError) printErr(`vsb-proxy: ${error.message}\n`);
    exit(error instanceof StartError ? error.exitCode : 1);
  }
  const running = proxy;
  const stopWatchdog = startWatchdog({ env: env(), healthy: () => running.registry.storeReachable, warn: (msg, fields) => log.warn(msg, fields) });
  onReload(() => {
    try {
      const tls = running.reloadTls();
      log.info("tls certificate reloaded", { subject: tls.subject, validTo: tls.validTo, fingerprint256: tls.fingerprint256 });
    } catch (error) {
      log.error("tls reload failed, the old certificate stays", { error: (error as Error).message });
    }
  });
  onShutdown(async (signal) => {
    log.info("signal received", { signal });
    stopWatchdog();
    await proxy.stop();
    exit(0);
  });
}

await main();
