/**
 * A minimal STUN server on 127.0.0.1 for tests (RFC 8489 §6.3.1, §14.2): answers every Binding
 * request with a success response carrying XOR-MAPPED-ADDRESS, the sender's address. Enough
 * for werift's full-ICE gathering to wait on a real UDP round trip to a local server.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  |0 0|     STUN Message Type     |         Message Length        |
 *  |                         Magic Cookie                          |
 *  |                     Transaction ID (96 bits)                  |
 */
import { createSocket } from "node:dgram";

const MAGIC = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;

/** A running responder: its port, how many requests it answered, and `close()`. */
export interface StunResponder {
  port: number;
  answered: number;
  close(): void;
}

/** Starts the responder on 127.0.0.1 on a free port. */
export function startStunResponder(): Promise<StunResponder> {
  const socket = createSocket("udp4");
  const responder = { port: 0, answered: 0, close: () => socket.close() };
  socket.on("message", (msg, from) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== BINDING_REQUEST || msg.readUInt32BE(4) !== MAGIC) return;
    const out = Buffer.alloc(32);
    out.writeUInt16BE(BINDING_SUCCESS, 0);
    out.writeUInt16BE(12, 2);
    out.writeUInt32BE(MAGIC, 4);
    msg.copy(out, 8, 8, 20); // transaction id
    out.writeUInt16BE(XOR_MAPPED_ADDRESS, 20);
    out.writeUInt16BE(8, 22);
    out.writeUInt16BE(0x01, 24); // IPv4
    out.writeUInt16BE(from.port ^ (MAGIC >>> 16), 26);
    const ip = from.address.split(".").reduce((n, part) => n * 256 + Number(part), 0);
    out.writeUInt32BE((ip ^ MAGIC) >>> 0, 28);
    socket.send(out, from.port, from.address);
    responder.answered++;
  });
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      responder.port = socket.address().port;
      resolve(responder);
    });
  });
}
