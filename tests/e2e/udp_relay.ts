// The UDP relay of the network-namespace tests (media_loss_peer.ts, cellular_peer.ts): it runs
// in R, listens on the proxy's ICE ports at R's address facing the sender, and forwards each
// sender's datagrams from a socket of its own to the same port on the proxy (so the proxy sees
// one peer-reflexive address per sender 5-tuple); replies go back the same way. What happens
// to a datagram on its way (pass, drop, queue) is the caller's `up` / `down`.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";

/** What a datagram is, by its first byte (RFC 7983 §7, the demultiplexing of RFC 5764 §5.1.2). */
export type DatagramKind = "stun" | "dtls" | "rtp" | "other";

/** Tells STUN (0–3), DTLS (20–63) and RTP/RTCP (128–191) apart. */
export function datagramKind(msg: Uint8Array): DatagramKind {
  const b = msg[0] ?? 255;
  if (b <= 3) return "stun";
  if (b >= 20 && b <= 63) return "dtls";
  if (b >= 128 && b <= 191) return "rtp";
  return "other";
}

/** Options of {@link udpRelay}. */
export interface UdpRelayOptions {
  /** Address the relay listens on (R's address facing the sender). */
  listen: string;
  ports: readonly number[];
  /** The proxy's address; each datagram goes to the port it came in on. */
  target: string;
  /** A datagram from a sender; call `forward()` (now or later) to send it on to the proxy. */
  up(msg: Buffer, forward: () => void): void;
  /** A datagram from the proxy back to a sender; call `forward()` to deliver it. */
  down(msg: Buffer, forward: () => void): void;
}

/** Starts the relay; resolves once every port is bound. */
export async function udpRelay(options: UdpRelayOptions): Promise<{ close(): void }> {
  const sockets: Socket[] = [];
  const bound: Promise<void>[] = [];
  for (const port of options.ports) {
    const front = createSocket("udp4");
    sockets.push(front);
    const backs = new Map<string, Socket>();
    front.on("message", (msg, from: RemoteInfo) => {
      const key = `${from.address}:${from.port}`;
      let back = backs.get(key);
      if (!back) {
        const b = createSocket("udp4");
        b.on("message", (reply) => options.down(reply, () => front.send(reply, from.port, from.address)));
        b.bind(0);
        sockets.push(b);
        backs.set(key, b);
        back = b;
      }
      const out = back;
      options.up(msg, () => out.send(msg, port, options.target));
    });
    bound.push(new Promise((resolve, reject) => {
      front.once("error", reject);
      front.bind(port, options.listen, () => resolve());
    }));
  }
  await Promise.all(bound);
  return { close: () => sockets.forEach((s) => s.close()) };
}
