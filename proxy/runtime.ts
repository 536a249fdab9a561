/**
 * Everything vsb-proxy needs from Bun and the OS, in one small file (besides the store's
 * bun:sqlite): the HTTP server, signals, file reads, argv/env and exit.
 */
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";

/** A listening HTTP(S) server. */
export interface Server {
  readonly hostname: string;
  readonly port: number;
  /** Whether it serves HTTPS. */
  readonly tls: boolean;
  /**
   * HTTPS only: serves new connections with `tls` from now on. Open connections (and the
   * requests on them) finish on the old certificate; nothing is refused in between.
   */
  reloadTls(tls: { cert: string; key: string }): void;
  stop(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  hostname: string;
  port: number;
  /** PEM certificate and key: HTTPS instead of HTTP. */
  tls?: { cert: string; key: string };
  fetch: (request: Request) => Response | Promise<Response>;
}

/** How long a replaced HTTPS listener may finish its open connections before they are closed. */
const RELOAD_DRAIN_MS = 90_000;

function bunServe(options: ServeOptions, port: number, reusePort: boolean) {
  return Bun.serve({
    hostname: options.hostname,
    port,
    fetch: options.fetch,
    tls: options.tls,
    reusePort,
    // The API refuses bodies over 64 KiB itself (413 with a JSON answer); this is the
    // hard stop for anything bigger so that no one can make the proxy buffer megabytes.
    maxRequestBodySize: 1024 * 1024,
    // Sensors keep one connection per keep-alive period; close idle ones after a while.
    idleTimeout: 60,
    development: false,
  });
}

/**
 * Starts Bun's HTTP server (HTTPS with `tls`); throws when the address cannot be bound.
 *
 * A certificate reload cannot go through Bun's `server.reload()` (in Bun 1.4 it keeps the
 * old certificate), so HTTPS listens with SO_REUSEPORT: a reload binds a second listener on
 * the same port with the new certificate, then stops the old one from accepting (its open
 * connections finish). So that SO_REUSEPORT cannot hide a second proxy on the same port, the
 * port is first bound once without it: a port already in use fails as with plain HTTP.
 */
export function serve(options: ServeOptions): Server {
  if (!options.tls) {
    const server = bunServe(options, options.port, false);
    return {
      hostname: server.hostname ?? options.hostname,
      port: server.port ?? options.port,
      tls: false,
      reloadTls: () => {
        throw new Error("the listener serves plain HTTP: no certificate to reload");
      },
      stop: async () => {
        await server.stop(true);
      },
    };
  }
  let probe: Bun.TCPSocketListener<undefined>;
  try {
    probe = Bun.listen({ hostname: options.hostname, port: options.port, socket: { data() {} } });
  } catch (error) {
    const inUse = (error as { code?: string }).code === "EADDRINUSE";
    throw new Error(inUse ? `Failed to start server. Is port ${options.port} in use?` : (error as Error).message, { cause: error });
  }
  const port = probe.port;
  probe.stop(true);
  let current = bunServe(options, port, true);
  const draining = new Set<ReturnType<typeof bunServe>>();
  return {
    hostname: current.hostname ?? options.hostname,
    port,
    tls: true,
    reloadTls: (tls) => {
      const next = bunServe({ ...options, tls }, port, true);
      const old = current;
      current = next;
      draining.add(old);
      void old.stop(false).finally(() => draining.delete(old));
      setTimeout(() => {
        if (draining.delete(old)) void old.stop(true);
      }, RELOAD_DRAIN_MS).unref();
    },
    stop: async () => {
      await Promise.all([current, ...draining].map((s) => s.stop(true)));
      draining.clear();
    },
  };
}

/** Calls `fn` on every SIGHUP (the systemd unit's `ExecReload`). */
export function onReload(fn: () => void): void {
  process.on("SIGHUP", () => fn());
}

/** `fetch` that trusts the PEM CA certificate(s) in `ca` instead of the system CAs. */
export function fetchTrusting(ca: string): typeof fetch {
  const trusted = ((input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, tls: { ca } } as RequestInit)) as typeof fetch;
  return trusted;
}

/**
 * Logs unhandled promise rejections instead of dying on them (a stray rejection in a
 * library must not take the registration API down); an uncaught exception is logged as
 * one JSON line and ends the process with 1, for systemd to restart it.
 */
export function guardProcess(log: (msg: string, fields: Record<string, unknown>) => void): void {
  process.on("unhandledRejection", (error) => log("unhandled rejection", { error }));
  process.on("uncaughtException", (error) => {
    log("uncaught exception", { error });
    process.exit(1);
  });
}

/** Calls `fn` once on SIGINT or SIGTERM. */
export function onShutdown(fn: (signal: string) => Promise<void> | void): void {
  let called = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (called) return;
      called = true;
      void fn(signal);
    });
  }
}

/** Reads a UTF-8 text file. */
export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/** Command-line arguments after the script name. */
export function args(): string[] {
  return Bun.argv.slice(2);
}

/** The environment. */
export function env(): Record<string, string | undefined> {
  return process.env;
}

/** Writes to stdout (help output only: logs go to stderr). */
export function printOut(text: string): void {
  process.stdout.write(text);
}

/** Writes one line to stderr (the configuration error before the logger exists). */
export function printErr(text: string): void {
  process.stderr.write(text);
}

/** Ends the process with `code`. */
export function exit(code: number): never {
  process.exit(code);
}

/** A UDP socket connected to one peer; see {@link connectUdp}. */
export interface ConnectedUdp {
  /** Sends one datagram; false when the kernel's send buffer is full and it was not sent. */
  send(bytes: Uint8Array): boolean;
  /** Sends datagrams in order with one system call (sendmmsg); returns how many were sent. */
  sendMany(packets: readonly Uint8Array[]): number;
  close(): void;
}

/**
 * Opens an IPv4 UDP socket connected to `host:port` (a name is looked up once, IPv4 only, as
 * node:dgram's "udp4" does) that does not keep the process alive. Bun's own socket: a send
 * costs ~3 µs less than node:dgram's in Bun (measured at 16 streams of 4 Mbit/s). `onError`
 * gets the errors reported after a send, e.g. ECONNREFUSED when an ICMP port unreachable came
 * back; rejects when the name cannot be looked up.
 */
export async function connectUdp(host: string, port: number, onError: (error: Error) => void): Promise<ConnectedUdp> {
  const { address } = await lookup(host, { family: 4 });
  const socket = await Bun.udpSocket({
    hostname: "0.0.0.0",
    connect: { hostname: address, port },
    socket: { error: (_socket, error) => onError(error) },
  });
  socket.unref();
  return socket;
}
