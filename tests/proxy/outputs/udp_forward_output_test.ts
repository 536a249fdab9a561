// UdpForwardOutput on real loopback sockets: packets reach the dataflow's port as RTP; with
// nobody listening (ICMP port unreachable), it keeps forwarding without throwing.
import { describe, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { configureLog, logger } from "../../../proxy/log.ts";
import { parseRtpPacket, type RtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { type ForwardTotals, UdpForwardOutput } from "../../../proxy/outputs/udp_forward_output.ts";
import { freeUdpPort } from "../../support/ports.ts";

configureLog({ level: "silent" });

function packet(seq: number, size = 5) {
  const payload = new Uint8Array(size).fill(seq & 0xff);
  payload[0] = 0x65;
  return { header: { marker: true, payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 42 }, payload, serialize: () => payload };
}


describe("UdpForwardOutput", () => {
  test("forwards each packet to the dataflow's port as RTP", async () => {
    const rx = createSocket("udp4");
    const port = await freeUdpPort();
    await new Promise<void>((r) => rx.bind(port, "127.0.0.1", () => r()));
    const got: RtpPacket[] = [];
    rx.on("message", (m) => got.push(parseRtpPacket(new Uint8Array(m)) as RtpPacket));
    const totals: ForwardTotals = { packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 0, dropped: 0 };
    const out = new UdpForwardOutput(1, { target: () => ({ host: "127.0.0.1", port }), totals, log: logger("test") });
    out.sessionStarted();
    for (let i = 0; i < 100; i++) {
      out.pushPacket(packet(i));
      if (i % 10 === 0) await Bun.sleep(1);
    }
    await Bun.sleep(100);
    out.close();
    rx.close();
    expect(got.map((p) => p.sequenceNumber)).toEqual([...Array(100).keys()]);
    expect(got[5]!.ssrc).toBe(42);
    expect(totals.packets).toBe(100);
  });

  test("a burst pushed in one event-loop pass (more than one batch, more than one buffer) arrives whole and in order; close() sends what is pending", async () => {
    const rx = createSocket("udp4");
    const port = await freeUdpPort();
    await new Promise<void>((r) => rx.bind(port, "127.0.0.1", () => r()));
    const got: number[] = [];
    const intact: boolean[] = [];
    rx.on("message", (m) => {
      const p = parseRtpPacket(new Uint8Array(m)) as RtpPacket;
      got.push(p.sequenceNumber);
      intact.push(p.payload.length === (p.sequenceNumber === 70 ? 20_000 : 1200) && p.payload.subarray(1).every((b) => b === (p.sequenceNumber & 0xff)));
    });
    const totals: ForwardTotals = { packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 0, dropped: 0 };
    const out = new UdpForwardOutput(1, { target: () => ({ host: "127.0.0.1", port }), totals, log: logger("test"), slabBytes: 12 * 1212 });
    out.sessionStarted();
    await Bun.sleep(20); // connected
    // 70 × 1212 bytes (what a socket's default receive buffer holds): batches end when the
    // buffer of 12 packets is full, and at the end of the pass; a packet larger than the
    // buffer goes on its own.
    for (let i = 0; i < 70; i++) out.pushPacket(packet(i, 1200));
    out.pushPacket(packet(70, 20_000));
    for (let i = 71; i < 80; i++) out.pushPacket(packet(i, 1200));
    await Bun.sleep(50);
    for (let i = 80; i < 90; i++) out.pushPacket(packet(i, 1200));
    out.close(); // before the pass ends: the 10 pending go out now
    await Bun.sleep(50);
    rx.close();
    expect(got).toEqual([...Array(90).keys()]);
    expect(intact.every(Boolean)).toBe(true);
    expect(totals).toMatchObject({ packets: 90, dropped: 0, errors: 0 });
  });

  test("keeps forwarding when nobody listens (errors counted, socket falls back, nothing thrown)", async () => {
    const port = await freeUdpPort();
    const totals: ForwardTotals = { packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 0, dropped: 0 };
    const out = new UdpForwardOutput(1, { target: () => ({ host: "127.0.0.1", port }), totals, log: logger("test") });
    out.sessionStarted();
    for (let i = 0; i < 200; i++) {
      out.pushPacket(packet(i));
      await Bun.sleep(1);
    }
    out.close();
    expect(totals.packets).toBe(200);
    expect(totals.errors).toBeLessThan(20);
    expect(totals.dropped).toBe(0);
    // A burst (one batch) on a fresh connected socket into the void: the first datagram's ICMP
    // refuses the next in the same sendmmsg; that is nobody listening, not a drop.
    const burst = new UdpForwardOutput(1, { target: () => ({ host: "127.0.0.1", port }), totals, log: logger("test") });
    burst.sessionStarted();
    await Bun.sleep(20);
    for (let i = 0; i < 20; i++) burst.pushPacket(packet(i));
    await Bun.sleep(20);
    burst.close();
    expect(totals.packets).toBe(220);
    expect(totals.dropped).toBe(0);
  });

  test("a dataflow without a port forwards nothing and is counted", () => {
    const totals: ForwardTotals = { packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 0, dropped: 0 };
    const out = new UdpForwardOutput(1, { target: () => undefined, totals, log: logger("test") });
    out.sessionStarted();
    out.pushPacket(packet(1));
    expect(totals).toEqual({ packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 1, dropped: 0 });
  });
});
