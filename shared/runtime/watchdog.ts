/**
 * systemd readiness and watchdog (sd_notify(3)) for vsb-agent and vsb-proxy. The units are
 * `Type=notify` with `WatchdogSec=`: READY=1 once the program is up, then WATCHDOG=1 every
 * half period, but only while the caller's `healthy()` says so (the agent: its flow makes
 * progress; the proxy: its store answers and its event loop runs), so a wedged program is
 * restarted. A peer that is away (a MEC, RabbitMQ) is not unhealthy: a restart would not fix it.
 *
 * Neither Deno, Bun nor Node can portably send on a unix datagram socket, so the message goes through
 * `systemd-notify`, which (systemd ≥ 246) waits until the manager has read it. Outside
 * systemd (no NOTIFY_SOCKET) this does nothing.
 */
import { spawn } from "node:child_process";
import process from "node:process";

/** Options of {@link startWatchdog}. */
export interface WatchdogOptions {
  /** Environment to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from. */
  env: Record<string, string | undefined>;
  /** True while the service is healthy; checked before every ping. */
  healthy: () => boolean;
  /** Told when a ping is withheld or systemd-notify cannot run. */
  warn: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Sends one sd_notify state line (e.g. "READY=1") when running under systemd. */
export function sdNotify(state: string, options: Pick<WatchdogOptions, "env" | "warn">): void {
  if (!options.env.NOTIFY_SOCKET) return;
  const child = spawn("systemd-notify", [`--pid=${process.pid}`, state], { stdio: "ignore", env: options.env });
  child.on("error", (error) => options.warn("systemd-notify failed", { state, error: error.message }));
}

/** Says READY=1 and feeds the watchdog while healthy; returns a stop function (STOPPING=1). */
export function startWatchdog(options: WatchdogOptions): () => void {
  sdNotify("READY=1", options);
  const usec = Number(options.env.WATCHDOG_USEC);
  const forUs = !options.env.WATCHDOG_PID || Number(options.env.WATCHDOG_PID) === process.pid;
  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.env.NOTIFY_SOCKET && usec > 0 && forUs) {
    timer = setInterval(() => {
      if (options.healthy()) sdNotify("WATCHDOG=1", options);
      else options.warn("watchdog ping withheld", { reason: "unhealthy" });
    }, Math.max(500, usec / 2000));
  }
  return () => {
    clearInterval(timer);
    sdNotify("STOPPING=1", options);
  };
}
