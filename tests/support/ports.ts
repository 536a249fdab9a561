// Free TCP/UDP ports on 127.0.0.1 for tests. A port handed out here is usually bound later by
// a child process (the proxy, RabbitMQ), so it must stay free until then on a machine where
// other test runs start at the same time. Hence:
// - ports come from below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range):
//   a bind to port 0 (Bun.serve, werift's ICE sockets) or an outgoing connection anywhere on
//   the machine never takes them meanwhile;
// - each one is claimed in a file under $TMPDIR/vsb-test-ports named after it and holding our
//   pid, so two test runs never hand out the same port (a claim of a dead pid is taken over);
// - and it is remembered, so two calls in one test run never hand out the same port.
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The only address tests bind to. */
export const LOOPBACK = "127.0.0.1";

/** Lowest port handed out. */
const POOL_MIN = 20000;

const handedOut = new Set<number>();
const claimDir = join(tmpdir(), "vsb-test-ports");
const claimed: string[] = [];

/** The first port of the kernel's ephemeral range (Linux default 32768). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // Not Linux: assume its default range.
  }
  return 32768;
}

/** Highest port handed out: just below the ephemeral range, or 60000 when that leaves too few. */
const POOL_MAX = ephemeralLow() - 1 >= POOL_MIN + 2000 ? ephemeralLow() - 1 : 60000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Claims `kind` port `port` for this process across test runs; false when a live process holds it. */
function claim(kind: "tcp" | "udp", port: number): boolean {
  const file = join(claimDir, `${kind}-${port}`);
  mkdirSync(claimDir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      claimed.push(file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`could not claim port file "${file}"`, { cause: error });
    }
    let owner = NaN;
    try {
      owner = Number(readFileSync(file, "utf8"));
    } catch {
      continue; // released meanwhile: try again
    }
    if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && pidAlive(owner))) return false;
    try {
      unlinkSync(file); // its run ended without releasing it
    } catch {
      // Another run took it over first; the next write tells.
    }
  }
  return false;
}

/**
 * Releases this run's claims (tests/support/preload.ts, once its processes are stopped). A run
 * that ends without it leaves claims of a dead pid, which the next claim takes over.
 */
export function releasePorts(): void {
  for (const file of claimed.splice(0)) {
    try {
      unlinkSync(file);
    } catch {
      // Already gone (another run took the stale claim over).
    }
  }
}

function tcpProbe(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

function udpProbe(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.unref();
    socket.once("error", () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind({ port, address: host, exclusive: true }, () => {
      const bound = socket.address().port;
      socket.close(() => resolve(bound));
    });
  });
}

/** Options shared by the port finders. */
export interface PortOptions {
  /** Address to probe; default "127.0.0.1". */
  host?: string;
}

const randomPort = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

async function findFree(kind: "tcp" | "udp", host: string) {
  const probe = kind === "tcp" ? tcpProbe : udpProbe;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = randomPort(POOL_MIN, POOL_MAX);
    if (handedOut.has(port) || !claim(kind, port)) continue;
    handedOut.add(port);
    if ((await probe(port, host)) === port) return port;
  }
  throw new Error(`could not find a free ${kind} port on "${host}" between ${POOL_MIN} and ${POOL_MAX} after 200 attempts`);
}

/** A TCP port that was free on 127.0.0.1 a moment ago, outside the ephemeral range, not handed out before by any test run. */
export function freePort(options: PortOptions = {}): Promise<number> {
  return findFree("tcp", options.host ?? LOOPBACK);
}

/** A UDP port that was free on 127.0.0.1 a moment ago, outside the ephemeral range, not handed out before by any test run. */
export function freeUdpPort(options: PortOptions = {}): Promise<number> {
  return findFree("udp", options.host ?? LOOPBACK);
}

/** `count` distinct free TCP ports. */
export async function freePorts(count: number, options: PortOptions = {}): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort(options));
  return ports;
}

/** Options of `freeUdpPortRange()`. */
export interface RangeOptions extends PortOptions {
  /** Lowest port to consider; default 20000. */
  min?: number;
  /** Highest port to consider; default just below the ephemeral range (32767 with Linux's defaults). */
  max?: number;
}

/**
 * The first port of `count` consecutive UDP ports that are all free, e.g. for the proxy's
 * legacy RTP/UDP output range. The whole range is claimed and remembered as handed out.
 */
export async function freeUdpPortRange(count: number, options: RangeOptions = {}): Promise<number> {
  const host = options.host ?? LOOPBACK;
  const min = options.min ?? POOL_MIN;
  const max = options.max ?? POOL_MAX;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = min + Math.floor(Math.random() * (max - min - count));
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      ok = !handedOut.has(port) && claim("udp", port);
      if (ok) handedOut.add(port);
      ok = ok && (await udpProbe(port, host)) === port;
    }
    if (ok) return base;
  }
  throw new Error(`could not find ${count} consecutive free UDP ports on "${host}" between ${min} and ${max}`);
}

/** True when nothing listens on TCP `port` (a bind to it succeeds). */
export async function isTcpPortFree(port: number, options: PortOptions = {}): Promise<boolean> {
  return (await tcpProbe(port, options.host ?? LOOPBACK)) === port;
}

/** Ports of `kind` this machine's test runs hold claims on now (for the tests of this file). */
export function claimedPorts(kind: "tcp" | "udp"): number[] {
  try {
    return readdirSync(claimDir).filter((f) => f.startsWith(`${kind}-`)).map((f) => Number(f.slice(kind.length + 1)));
  } catch {
    return [];
  }
}
