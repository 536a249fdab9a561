// Child processes for tests: every process started here is tracked and stopped by pid
// (INT → TERM → KILL, its whole process group) when the test stops it or, at the latest,
// when the test run ends (tests/support/preload.ts calls `cleanupAll()`).
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { LineLog } from "./line_log.ts";
import { sleep } from "./wait.ts";

export { canConnect, sleep, waitForHttp, waitForPort, waitUntil } from "./wait.ts";
export type { WaitOptions } from "./wait.ts";

/** Options of `spawnTracked()`. */
export interface SpawnOptions {
  /** Working directory; default the current one. */
  cwd?: string;
  /** Variables added to (or, when undefined, removed from) `process.env`. */
  env?: Record<string, string | undefined>;
  /** Label used in errors and echoed output; default the command's basename. */
  name?: string;
  /** "lines" (default) keeps stdout as text lines for `waitForLine()`; "pipe" leaves `child.stdout` to the caller (binary data). */
  stdout?: "lines" | "pipe";
  /** "ignore" (default) or "pipe" (then write to `child.stdin`). */
  stdin?: "ignore" | "pipe";
  /** Lines of output kept per stream for errors and `waitForLine()`; default 1000. */
  keepLines?: number;
  /** Mirror output to stderr with a name prefix; default true when env VSB_TEST_ECHO=1. */
  echo?: boolean;
  /** A service others depend on (a broker): `cleanupAll()` stops it after the other processes. */
  infrastructure?: boolean;
}

/** Options of `stop()` / `stopPid()`. */
export interface StopOptions {
  /** Signals sent in order until the process is gone; default ["SIGINT", "SIGTERM", "SIGKILL"]. */
  signals?: NodeJS.Signals[];
  /** How long to wait after each signal before the next; default 3000 ms. */
  graceMs?: number;
  /** Signal the whole process group (default true) or only the pid; leftovers of the group get KILL either way. */
  group?: boolean;
}

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A tracked child process. */
export interface Proc {
  readonly pid: number;
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Set once the process has exited. */
  exitStatus(): ExitStatus | undefined;
  /** Recent output; stream "stdout" is empty in `stdout: "pipe"` mode. */
  output(stream?: "stdout" | "stderr" | "both"): string;
  /** Resolves with the first line (already seen or future) matching `pattern`; rejects on exit or timeout. */
  waitForLine(pattern: RegExp | string, options?: WaitLineOptions): Promise<string>;
  /** Stops the process and its process group (INT → TERM → KILL). */
  stop(options?: StopOptions): Promise<ExitStatus>;
}

/** Options of `waitForLine()`. */
export interface WaitLineOptions {
  /** Default 10000 ms. */
  timeoutMs?: number;
  /** Which output to watch; default "both". */
  stream?: "stdout" | "stderr" | "both";
}

const tracked = new Map<number, Proc>();
const infrastructure = new Set<number>();
const cleanups: Array<() => Promise<void> | void> = [];
const syncCleanups: Array<() => void> = [];

/** Starts `command` in its own process group and tracks it until it exits. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): Proc {
  const name = options.name ?? basename(command);
  const env = { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const child = spawn(command, args, {
    cwd: options.cwd,
    env,
    detached: true,
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT asynchronously; make the failure synchronous and clear.
    child.on("error", () => {});
    throw new Error(`could not start "${command}": not found or not executable`);
  }
  const keep = options.keepLines ?? 1000;
  const echo = options.echo ?? process.env.VSB_TEST_ECHO === "1";
  const out = new LineLog(keep, echo ? `[${name}] ` : undefined);
  const err = new LineLog(keep, echo ? `[${name}!] ` : undefined);
  if ((options.stdout ?? "lines") === "lines") out.attach(child.stdout!);
  err.attach(child.stderr!);
  let status: ExitStatus | undefined;
  const pid = child.pid;
  const closeLogs = () => {
    const reason = `${name} exited (${status?.code ?? status?.signal})`;
    out.close(reason);
    err.close(reason);
  };
  // "close" comes once stdout/stderr are drained; a grandchild holding them open must not hang waiters.
  child.on("close", closeLogs);
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on("exit", (code, signal) => {
      status = { code, signal };
      if (groupMembers(pid).length === 0) tracked.delete(pid);
      setTimeout(closeLogs, 500).unref();
      resolve(status);
    });
  });
  const proc: Proc = {
    pid,
    name,
    child,
    exited,
    exitStatus: () => status,
    output: (stream = "both") =>
      stream === "stdout" ? out.text() : stream === "stderr" ? err.text() : `${out.text()}${err.text()}`,
    waitForLine: (pattern, opts = {}) => {
      const logs = opts.stream === "stdout" ? [out] : opts.stream === "stderr" ? [err] : [out, err];
      return LineLog.waitAny(logs, pattern, opts.timeoutMs ?? 10_000, name);
    },
    stop: async (opts) => {
      await signalUntilGone(pid, () => status !== undefined, opts);
      tracked.delete(pid);
      return exited;
    },
  };
  tracked.set(pid, proc);
  if (options.infrastructure) infrastructure.add(pid);
  return proc;
}

/** Every tracked process that has not exited yet. */
export function trackedProcs(): Proc[] {
  return [...tracked.values()];
}

/**
 * Stops any process by pid — signalling its process group when it leads one — sending
 * INT → TERM → KILL until it (and the rest of its group) is gone.
 */
export async function stopPid(pid: number, options: StopOptions = {}): Promise<void> {
  await signalUntilGone(pid, () => !isAlive(pid), options);
}

async function signalUntilGone(pid: number, leaderGone: () => boolean, options: StopOptions = {}) {
  const signals = options.signals ?? ["SIGINT", "SIGTERM", "SIGKILL"];
  const graceMs = options.graceMs ?? 3000;
  for (const signal of signals) {
    if (leaderGone()) break;
    sendSignal(pid, signal, options.group ?? true);
    await pollUntil(leaderGone, graceMs);
  }
  if (!leaderGone()) throw new Error(`process ${pid} still runs after ${signals.join(", ")}`);
  // Helpers that outlive their leader (its process group) get a moment, then KILL.
  const groupGone = () => groupMembers(pid).length === 0;
  if (await pollUntil(groupGone, 1000)) return;
  sendSignal(pid, "SIGKILL", true);
  if (!(await pollUntil(groupGone, 2000))) throw new Error(`process group ${pid} still runs after SIGKILL`);
}

async function pollUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

function sendSignal(pid: number, signal: NodeJS.Signals, group: boolean) {
  for (const target of group ? [-pid, pid] : [pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      // ESRCH: no such group (or process); try the plain pid next.
    }
  }
}

/** True when `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return procState(pid) !== "Z";
}

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) pids whose process group is `pgid`, read from /proc. */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return isAlive(pgid) ? [pgid] : [];
  }
  const members: number[] = [];
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return members;
}

/** Registers work for `cleanupAll()` (run last-in first-out), and optionally a synchronous fallback for process exit. */
export function onCleanup(fn: () => Promise<void> | void, syncFallback?: () => void): () => void {
  cleanups.push(fn);
  if (syncFallback) syncCleanups.push(syncFallback);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
    if (syncFallback) {
      const j = syncCleanups.indexOf(syncFallback);
      if (j >= 0) syncCleanups.splice(j, 1);
    }
  };
}

/**
 * Stops every tracked process that is not infrastructure (clients first: proxy, agent, gst),
 * then runs the registered cleanups last-in first-out (brokers), then stops whatever is left.
 */
export async function cleanupAll(): Promise<void> {
  const errors: unknown[] = [];
  const stopAll = async (which: Proc[]) => {
    const results = await Promise.allSettled(which.map((p) => p.stop()));
    for (const r of results) if (r.status === "rejected") errors.push(r.reason);
  };
  await stopAll(trackedProcs().filter((p) => !infrastructure.has(p.pid)));
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (error) {
      errors.push(error);
    }
  }
  syncCleanups.length = 0;
  await stopAll(trackedProcs());
  if (errors.length > 0) throw new AggregateError(errors, "cleanup after tests failed");
}

/** Last resort at process exit (synchronous): TERM every tracked group, wait up to `graceMs`, then KILL. */
export function cleanupAllSync(graceMs = 3000): void {
  for (const fn of syncCleanups.splice(0).reverse()) {
    try {
      fn();
    } catch {
      // Exiting anyway; keep going so the remaining processes still get stopped.
    }
  }
  const pids = trackedProcs().map((p) => p.pid);
  for (const pid of pids) sendSignal(pid, "SIGTERM", true);
  const deadline = Date.now() + graceMs;
  const alive = () => pids.filter((pid) => groupMembers(pid).length > 0);
  while (alive().length > 0 && Date.now() < deadline) sleepSync(20);
  for (const pid of alive()) sendSignal(pid, "SIGKILL", true);
}

/** Blocks the thread for `ms` (only for exit paths where the event loop no longer runs). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
