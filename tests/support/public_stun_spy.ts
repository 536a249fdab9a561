// Watches what a werift peer would send to werift's public STUN fallback (stun.l.google.com,
// port 19302): every name looked up through dns.promises.lookup (answered with 127.0.0.1, so a
// query would stay local) and every datagram sent. Process wide: install in beforeEach and
// restore in afterEach.
import dgram from "node:dgram";
import dns from "node:dns";

/** A spy on name lookups and UDP sends. */
export interface PublicStunSpy {
  /** Lookups of Google names and datagrams to port 19302 seen since install(), as text. */
  toGoogle(): string[];
  restore(): void;
}

/** Starts spying; call `restore()` when the test ends. */
export function spyOnPublicStun(): PublicStunSpy {
  const sent: { port: number; address: string }[] = [];
  const looked: string[] = [];
  const originalSend = dgram.Socket.prototype.send;
  const originalLookup = dns.promises.lookup;
  dns.promises.lookup = (async (name: string) => {
    looked.push(name);
    return { address: "127.0.0.1", family: 4 };
  }) as unknown as typeof originalLookup;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    const port = args.find((a, i) => i > 0 && typeof a === "number") as number | undefined;
    const address = args.find((a, i) => i > 1 && typeof a === "string") as string | undefined;
    sent.push({ port: port ?? -1, address: address ?? "" });
    return (originalSend as (...a: unknown[]) => void).apply(this, args);
  } as typeof originalSend;
  return {
    toGoogle: () => [
      ...looked.filter((n) => /google/i.test(n)),
      ...sent.filter((s) => s.port === 19302 || /google/i.test(s.address)).map((s) => `${s.address}:${s.port}`),
    ],
    restore: () => {
      dgram.Socket.prototype.send = originalSend;
      dns.promises.lookup = originalLookup;
    },
  };
}
