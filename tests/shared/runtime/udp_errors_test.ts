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
  test("a socket error on a guarded werift transport is logged once per socket and not thrown", async () => {
    const lines: string[] = [];
    guardUdpErrors(UdpTransport, (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields)}`));
    guardUdpErrors(UdpTransport, () => lines.push("a second guard")); // idempotent
    const t = (await UdpTransport.init("udp4")) as unknown as Socketed;
    const before = udpErrorCounters.caught;
    const refused = Object.assign(new Error("recvmsg ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(() => t.socket.emit("error", refused)).not.toThrow();
    expect(() => t.socket.emit("error", refused)).not.toThrow();
    expect(udpErrorCounters.caught - before).toBe(2);
    expect(lines).toEqual([`udp socket error ignored (the peer's port is closed?) {"error":"recvmsg ECONNREFUSED"}`]);
    await t.close();
  });

  test("without a listener the same event throws (what the guard prevents)", () => {
    const bare = new EventEmitter();
    expect(() => bare.emit("error", new Error("recvmsg ECONNREFUSED"))).toThrow("recvmsg ECONNREFUSED");
  });

  test("refuses a class without init(): a werift that changed is said, not silently unguarded", () => {
    expect(() => guardUdpErrors(class {} as never, () => {})).toThrow(/no init\(\)/);
  });
});
