// The WHIP routes over real HTTP and real WebRTC on loopback: werift publishers push to the
// routes served by Bun.serve; a recording sink stands in for the media core.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RTCPeerConnection } from "werift";
import { publisherConfig } from "../../../agent/push/publisher_config.ts";
import { WhipHttpError, WhipPublisher } from "../../../agent/push/whip_publisher.ts";
import { createLogger } from "../../../agent/log.ts";
import { configureLog } from "../../../proxy/log.ts";
import { SDP_CONTENT_TYPE } from "../../../shared/mod.ts";
import { replayFixture, startWhipServer, waitFor, type WhipTestServer } from "../../e2e/whip_harness.ts";
import { CHROMIUM_OFFER } from "./chromium_offer.ts";

let server: WhipTestServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  configureLog({ level: "silent" });
  server = startWhipServer(new Map([[1, "tok-1"], [2, "tok-2"], [3, "tok-3"], [4, "tok-4"], [5, "tok-5"], [6, "tok-6"]]));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await server.stop();
});

/** A werift offer with loopback candidates (closed after the test run). */
async function offer(): Promise<string> {
  const pc = new RTCPeerConnection(publisherConfig({ url: "", interfaceAddresses: ["127.0.0.1"] }));
  cleanups.push(() => pc.close());
  pc.addTransceiver("video", { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await waitFor(() => pc.iceGatheringState === "complete", 3000);
  return pc.localDescription!.sdp;
}

function post(id: number | string, body: string, token?: string, type = SDP_CONTENT_TYPE): Promise<Response> {
  const headers: Record<string, string> = { "content-type": type };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(`${server.base}/whip/${id}`, { method: "POST", headers, body });
}

function publisher(id: number, token = `tok-${id}`): WhipPublisher {
  const pub = new WhipPublisher({
    url: server.whipUrl(id), token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}),
  });
  cleanups.push(() => pub.close());
  return pub;
}

describe("whipRoutes() POST /whip/{id}", () => {
  test("answers a werift offer: 201, application/sdp, Location, ICE-lite, loopback candidate only", async () => {
    const res = await post(6, await offer(), "tok-6");
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toBe(SDP_CONTENT_TYPE);
    expect(res.headers.get("location")).toMatch(/^\/whip\/6\/[0-9a-f-]{36}$/);
    const answer = await res.text();
    expect(answer).toContain("\r\na=ice-lite\r\nm=video");
    const candidates = answer.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
    expect(candidates.length).toBe(1);
    expect(candidates[0]).toContain(" 127.0.0.1 ");
    expect(answer).toContain("a=rtpmap:102 H264/90000");
    expect(answer).toContain("a=fmtp:103 apt=102");
    expect(answer).toContain("a=rtcp-fb:102 nack pli");
    const del = await fetch(`${server.base}${res.headers.get("location")}`, { method: "DELETE", headers: { authorization: "Bearer tok-6" } });
    expect(del.status).toBe(200);
  }, 30_000);

  test("answers Chromium's offer with its H.264 pm1 payload type and the audio section rejected", async () => {
    const res = await post(5, CHROMIUM_OFFER, "tok-5");
    expect(res.status).toBe(201);
    const answer = await res.text();
    expect(answer).toContain("m=video 9 UDP/TLS/RTP/SAVPF 106 107");
    expect(answer).toMatch(/m=audio 0 /);
    await fetch(`${server.base}${res.headers.get("location")}`, { method: "DELETE", headers: { authorization: "Bearer tok-5" } });
  }, 30_000);

  test("401 without a token, with a wrong token, and with another dataflow's token", async () => {
    const sdp = await offer();
    for (const token of [undefined, "nope", "tok-2"]) {
      const res = await post(1, sdp, token);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      expect((await res.json()).error).toContain("token");
    }
  }, 30_000);

  test("404 for an unknown or malformed dataflow id", async () => {
    const sdp = await offer();
    expect((await post(99, sdp, "tok-1")).status).toBe(404);
    expect((await post("abc", sdp, "tok-1")).status).toBe(404);
  }, 30_000);

  test("400 for malformed SDP, 406 for an offer without H.264, 415 for a wrong content type", async () => {
    const bad = await post(1, "v=0\r\nthis is not sdp", "tok-1");
    expect(bad.status).toBe(400);
    expect((await bad.json()).details).toContain('"o="');
    const vp8 = (await offer()).replaceAll("H264/90000", "VP8/90000");
    const notH264 = await post(1, vp8, "tok-1");
    expect(notH264.status).toBe(406);
    expect((await notH264.json()).details).toContain("H.264");
    expect((await post(1, await offer(), "tok-1", "text/plain")).status).toBe(415);
    expect(server.registry.get(1)).toBeUndefined();
  }, 30_000);

  test("OPTIONS answers a CORS preflight with Accept-Post; answers expose Location", async () => {
    const res = await fetch(`${server.base}/whip/1`, {
      method: "OPTIONS",
      headers: { origin: "http://laptop.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("accept-post")).toBe(SDP_CONTENT_TYPE);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
    const denied = await post(1, "v=0", "wrong");
    expect(denied.headers.get("access-control-expose-headers")).toBe("location");
  }, 30_000);

  test("PATCH (trickle ICE) is answered 405", async () => {
    const res = await fetch(`${server.base}/whip/1/whatever`, { method: "PATCH", headers: { authorization: "Bearer tok-1" } });
    expect(res.status).toBe(405);
  }, 30_000);
});

describe("whipRoutes() sessions", () => {
  test("a second push while the first streams gets 409; DELETE ends the session with reason delete", async () => {
    const first = publisher(2);
    await first.start();
    expect(await waitFor(() => first.state === "connected", 5000)).toBe(true);
    const replay = replayFixture((p) => first.sendRtp(p));
    cleanups.push(() => replay.stop());
    expect(await waitFor(() => (server.registry.get(2)?.counters.packets ?? 0) > 20, 5000)).toBe(true);
    await Bun.sleep(2500); // older than the takeover delay, but media flows: still alive
    const second = publisher(2);
    const error = await second.start().catch((e) => e);
    expect(error).toBeInstanceOf(WhipHttpError);
    expect((error as WhipHttpError).status).toBe(409);
    replay.stop();
    await first.close();
    expect(server.ends.find((e) => e.dataflowId === 2)?.reason).toBe("delete");
    expect(server.registry.get(2)).toBeUndefined();
    expect(server.sessions.find((s) => s.info.dataflowId === 2)?.closedWith).toBe("delete");
  }, 30_000);

  test("a publisher that vanished without DELETE is taken over after 2 s of silence", async () => {
    const first = publisher(3);
    await first.start();
    const replay = replayFixture((p) => first.sendRtp(p));
    expect(await waitFor(() => (server.registry.get(3)?.counters.packets ?? 0) > 20, 5000)).toBe(true);
    const oldSession = server.registry.get(3)!.sessionId;
    replay.stop(); // the publisher "dies": no more media, no DELETE
    const early = publisher(3);
    expect(((await early.start().catch((e) => e)) as WhipHttpError).status).toBe(409);
    await Bun.sleep(2100);
    const second = publisher(3);
    await second.start();
    expect(server.ends.find((e) => e.sessionId === oldSession)?.reason).toBe("takeover");
    expect(server.registry.get(3)?.sessionId).not.toBe(oldSession);
    expect(await waitFor(() => second.state === "connected", 5000)).toBe(true);
  }, 30_000);

  test("DELETE needs the token and the right session id", async () => {
    const pub = publisher(4);
    await pub.start();
    const location = pub.location!;
    expect((await fetch(location, { method: "DELETE" })).status).toBe(401);
    const other = location.replace(/[0-9a-f-]{36}$/, "00000000-0000-0000-0000-000000000000");
    expect((await fetch(other, { method: "DELETE", headers: { authorization: "Bearer tok-4" } })).status).toBe(404);
    expect(server.registry.get(4)).toBeDefined();
    await pub.close();
    expect(server.registry.get(4)).toBeUndefined();
  }, 30_000);
});

describe("SessionRegistry timeouts", () => {
  test("a session that never connects ends with ice-failed; one whose media stops, with media-timeout", async () => {
    const quick = startWhipServer(new Map([[1, "a"], [2, "b"]]), { connectTimeoutMs: 800, mediaTimeoutMs: 1200, checkIntervalMs: 100 });
    cleanups.push(() => quick.stop());
    // Offer answered, but the offerer never applies the answer: no ICE checks ever arrive.
    const res = await fetch(`${quick.base}/whip/1`, {
      method: "POST", headers: { "content-type": SDP_CONTENT_TYPE, authorization: "Bearer a" }, body: await offer(),
    });
    expect(res.status).toBe(201);
    const pub = new WhipPublisher({ url: quick.whipUrl(2), token: "b", interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
    cleanups.push(() => pub.close());
    await pub.start();
    const replay = replayFixture((p) => pub.sendRtp(p));
    expect(await waitFor(() => (quick.registry.get(2)?.counters.packets ?? 0) > 10, 5000)).toBe(true);
    replay.stop();
    expect(await waitFor(() => quick.ends.length === 2, 4000)).toBe(true);
    expect(quick.ends.find((e) => e.dataflowId === 1)?.reason).toBe("ice-failed");
    expect(quick.ends.find((e) => e.dataflowId === 2)?.reason).toBe("media-timeout");
    expect(quick.registry.ended).toMatchObject({ "ice-failed": 1, "media-timeout": 1 });
  }, 30_000);
});
