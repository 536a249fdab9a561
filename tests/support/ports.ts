// Free TCP/UDP ports on 127.0.0.1 for tests: ask the kernel for an ephemeral port, release it,
// and remember it so two calls in one test run never hand out the same port.
import { createServer } from "node:net";
import { createSocket } from "node:dgram";

/** The only address tests bind to. */
export const LOOPBACK = "127.0.0.1";

const handedOut = new Set<number>();

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

async function findFree(probe: (port: number, host: string) => Promise<number | undefined>, host: string) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probe(0, host);
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`could not find a free port on "${host}" after 50 attempts`);
}

/** A TCP port that was free on 127.0.0.1 a moment ago and was not handed out before in this process. */
export function freePort(options: PortOptions = {}): Promise<number> {
  return findFree(tcpProbe, options.host ?? LOOPBACK);
}

/** A UDP port that was free on 127.0.0.1 a moment ago and was not handed out before in this process. */
export function freeUdpPort(options: PortOptions = {}): Promise<number> {
  return findFree(udpProbe, options.host ?? LOOPBACK);
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
  /** Highest port to consider; default 60000. */
  max?: number;
}

/**
 * The first port of `count` consecutive UDP ports that are all free, e.g. for the proxy's
 * legacy RTP/UDP output range. The whole range is remembered as handed out.
 */
export async function freeUdpPortRange(count: number, options: RangeOptions = {}): Promise<number> {
  const host = options.host ?? LOOPBACK;
  const min = options.min ?? 20000;
  const max = options.max ?? 60000;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = min + Math.floor(Math.random() * (max - min - count));
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      ok = !handedOut.has(port) && (await udpProbe(port, host)) === port;
    }
    if (ok) {
      for (let port = base; port < base + count; port++) handedOut.add(port);
      return base;
    }
  }
  throw new Error(`could not find ${count} consecutive free UDP ports on "${host}" between ${min} and ${max}`);
}

/** True when nothing listens on TCP `port` (a bind to it succeeds). */
export async function isTcpPortFree(port: number, options: PortOptions = {}): Promise<boolean> {
  return (await tcpProbe(port, options.host ?? LOOPBACK)) === port;
}
