// werift asks stun.l.google.com:19302 when no STUN server is configured (ice.js
// DEFAULT_STUN_SERVER). WhipPublisher.start() must gather without looking it up or sending to
// it; with a `--stun` server of ours, that one is kept. The lookup and send spies are process
// wide, so this file restores them after each test.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { RTCPeerConnection } from "werift";
import { withoutPublicStun } from "../../agent/push/no_public_stun.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { type PublicStunSpy, spyOnPublicStun } from "../support/public_stun_spy.ts";

let spy: PublicStunSpy;
const toGoogle = () => spy.toGoogle();
beforeEach(() => {
  spy = spyOnPublicStun();
});
afterEach(() => spy.restore());

describe("withoutPublicStun()", () => {
  test("werift left alone would ask Google (the test can see it)", async () => {
    const pc = new RTCPeerConnection({ iceServers: [], iceInterfaceAddresses: { udp4: "127.0.0.1" }, iceUseIpv6: false });
    pc.addTransceiver("video", { direction: "sendonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await Bun.sleep(300);
    await pc.close();
    expect(toGoogle().length).toBeGreaterThan(0);
  }, 15_000);

  test("WhipPublisher.start() without --stun gathers without a lookup of or a datagram to stun.l.google.com", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("no", { status: 503 }) });
    try {
      const pub = new WhipPublisher({ url: `http://127.0.0.1:${server.port}/whip/1`, token: "t", interfaceAddresses: ["127.0.0.1"] });
      expect(await pub.start().then(() => "started", (e: Error) => e.message)).toContain("503");
      await Bun.sleep(300);
      expect(toGoogle()).toEqual([]);
    } finally {
      server.stop(true);
    }
  }, 15_000);

  test("a STUN server of ours is kept", async () => {
    const pc = new RTCPeerConnection({ iceServers: [{ urls: "stun:127.0.0.1:3478" }] });
    pc.addTransceiver("video", { direction: "sendonly" });
    expect(withoutPublicStun(pc)).toBe(1);
    const connection = (pc.iceTransports[0] as unknown as { connection: { stunServer?: unknown } }).connection;
    expect(connection.stunServer).toEqual(["127.0.0.1", 3478]);
    await pc.close();
  });
});
