// guardUdpErrors: werift's ICE sockets listen for "message" only, so a socket "error" (Bun:
// `recvmsg ECONNREFUSED` after an ICMP port unreachable from a peer that went away) was thrown
// as an uncaught exception: it ended vsb-proxy, and failed CI runs as "Unhandled error between
// tests" (replica_ingest_test). On real werift UdpTransport sockets.
import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { UdpTransport } from "werift";
import { guardUdpErrors, udpErrorCounters } from "../../../shared/runtime/udp_errors.ts";

type Socketed = { socket: EventEmitter; close(): Promise<void> };


describe("guardUdpErrors()", () => {
  test("a socket error on a guarded werift transport is not thrown, and counted", async () => {
    // The proxy's answerer or the agent's publisher may have guarded it already in this process.
    guardUdpErrors(UdpTransport, () => {});
    const t = (await UdpTransport.init("udp4")) as unknown as Socketed;
    const before = udpErrorCounters.caught;
    const refused = Object.assign(new Error("recvmsg ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(t.socket.listenerCount("error")).toBe(1);
    expect(() => t.socket.emit("error", refused)).not.toThrow();
    expect(() => t.socket.emit("error", refused)).not.toThrow();
    expect(udpErrorCounters.caught - before).toBe(2);
    await t.close();
  });

  test("the first error of each socket is logged, once; a second guard changes nothing", async () => {
    class Transport {
      socket = new EventEmitter();
      init(): Promise<void> {
        return Promise.resolve();
      }
    }
    const lines: string[] = [];
    guardUdpErrors(Transport, (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields)}`));
    guardUdpErrors(Transport, () => lines.push("a second guard"));
    const [a, b] = [new Transport(), new Transport()];
    await a.init();
    await b.init();
    for (const t of [a, a, b]) t.socket.emit("error", new Error("recvmsg ECONNREFUSED"));
    expect(lines).toEqual(Array(2).fill(`udp socket error ignored (the peer's port is closed?) {"error":"recvmsg ECONNREFUSED"}`));
  });

  test("without a listener the same event throws (what the guard prevents)", () => {
    const bare = new EventEmitter();
    expect(() => bare.emit("error", new Error("recvmsg ECONNREFUSED"))).toThrow("recvmsg ECONNREFUSED");
  });

  test("refuses a class without init(): a werift that changed is said, not silently unguarded", () => {
    expect(() => guardUdpErrors(class {} as never, () => {})).toThrow(/no init\(\)/);
  });
});
