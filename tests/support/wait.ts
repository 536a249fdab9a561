// Waiting for things tests depend on: a TCP port, an HTTP URL, any condition; failing fast
// when the process that should provide it has exited.
import { connect } from "node:net";

/** What the waiters need to know about a process (a `Proc` from procs.ts fits). */
export interface Watched {
  readonly name: string;
  exitStatus(): { code: number | null; signal: string | null } | undefined;
  output(): string;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of the `waitFor*()` helpers. */
export interface WaitOptions {
  /** Default 10000 ms. */
  timeoutMs?: number;
  /** Poll interval; default 50 ms. */
  intervalMs?: number;
  /** When given, waiting fails at once if this process exits. */
  proc?: Watched;
}

/** Polls `probe` until it returns a value other than undefined/false. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    const status = options.proc?.exitStatus();
    if (status) {
      throw new Error(`${options.proc!.name} exited (${status.code ?? status.signal}) while waiting for ${what}\n${options.proc!.output().slice(-4000)}`);
    }
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${what}`, { cause: last });
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/** True when a TCP connection to host:port succeeds. */
export function canConnect(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/** Waits until something accepts TCP connections on host:port (default host 127.0.0.1). */
export function waitForPort(port: number, options: WaitOptions & { host?: string } = {}): Promise<true> {
  const host = options.host ?? "127.0.0.1";
  return waitUntil(`TCP "${host}:${port}"`, () => canConnect(port, host), options);
}

/** Waits until `url` answers with `status` (default: any 2xx) and returns that response. */
export function waitForHttp(url: string, options: WaitOptions & { status?: number; init?: RequestInit } = {}): Promise<Response> {
  return waitUntil(`HTTP "${url}"`, async () => {
    const response = await fetch(url, { ...options.init, signal: AbortSignal.timeout(2000) });
    const ok = options.status === undefined ? response.ok : response.status === options.status;
    if (!ok) await response.body?.cancel();
    return ok ? response : undefined;
  }, options);
}
