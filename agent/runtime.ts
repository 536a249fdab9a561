/**
 * The agent's runtime seam: the only file that touches `Deno.*`. Everything else in `agent/`
 * uses web and `node:` APIs, so the same code runs under Deno (and `deno compile`) and under
 * Bun (unit tests, and the `bun build --compile` fallback binary).
 */
import process from "node:process";
import { hostname as nodeHostname } from "node:os";

// deno-lint-ignore no-explicit-any
const deno: any = (globalThis as any).Deno;

// mqtt.js calls url.parse(); the runtime's deprecation notice would be a stray non-JSON
// line on stderr, where every line must be a JSON log event.
if (!deno) (process as { noDeprecation?: boolean }).noDeprecation = true;

/** Name of the runtime the agent runs on. */
export const runtimeName: string = deno ? `deno ${deno.version?.deno ?? ""}`.trim() : `bun/node ${process.version}`;

/** Command-line arguments after the program name. */
export function programArgs(): string[] {
  return deno ? [...deno.args] : process.argv.slice(2);
}

/** A snapshot of the environment. */
export function environment(): Record<string, string> {
  if (deno) return deno.env.toObject();
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) out[key] = value;
  return out;
}

/** Ends the process at once with `code`. */
export function exitProcess(code: number): never {
  if (deno) deno.exit(code);
  process.exit(code);
}

/** Calls `handler` on SIGINT/SIGTERM (instead of the default: die at once). */
export function onSignal(signal: "SIGINT" | "SIGTERM", handler: () => void): void {
  if (deno) deno.addSignalListener(signal, handler);
  else process.on(signal, handler);
}

const encoder = new TextEncoder();

/** Writes one line to stderr synchronously, so log lines are never lost on exit. */
export function writeStderrLine(line: string): void {
  const bytes = encoder.encode(`${line}\n`);
  if (deno) {
    let written = 0;
    while (written < bytes.length) written += deno.stderr.writeSync(bytes.subarray(written));
  } else {
    process.stderr.write(bytes);
  }
}

/** Writes text to stdout (for `--help`, `--check`, `--version`). */
export function writeStdout(text: string): void {
  const bytes = encoder.encode(text);
  if (deno) {
    let written = 0;
    while (written < bytes.length) written += deno.stdout.writeSync(bytes.subarray(written));
  } else {
    process.stdout.write(bytes);
  }
}

/** This machine's host name (the default `sourceId`). */
export function hostname(): string {
  return deno ? deno.hostname() : nodeHostname();
}

/** Resident set size of this process in bytes. */
export function residentBytes(): number {
  return deno ? deno.memoryUsage().rss : process.memoryUsage().rss;
}

/**
 * `fetch` that trusts the PEM CA certificate(s) in `ca` for HTTPS: under Deno a client with
 * `caCerts` (in addition to the system roots), under Bun `tls.ca` (instead of them).
 */
export function fetchTrusting(ca: string): typeof fetch {
  if (deno) {
    const client = deno.createHttpClient({ caCerts: [ca] });
    return ((input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, client } as RequestInit)) as typeof fetch;
  }
  return ((input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, tls: { ca } } as RequestInit)) as typeof fetch;
}
