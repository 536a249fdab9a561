// Transport-wide congestion control feedback on the WHIP ingest, on real parts: the WHIP routes
// in-process (Bun.serve on 127.0.0.1, the real SessionRegistry, werift answerer with the fast path
// installed, as the proxy runs it) and a werift publisher on loopback (tests/support/
// twcc_publisher.ts: the agent's config, plus transport-cc). An offer with transport-cc gets it
// answered, and werift's ReceiverTWCC reports the packets back, so the sender's estimator gets a
// bitrate; the agent's offer (no transport-cc) gets an answer without it and no such feedback.
// A WHEP answerer (sending) never takes it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RTCPeerConnection } from "werift";
import { configureLog, logger } from "../../../proxy/log.ts";
import { answerPeer } from "../../../proxy/webrtc/answer_peer.ts";
import { twccCounters } from "../../../proxy/webrtc/twcc_receiver.ts";
import { installWeriftFastPath, srtpFastCounters } from "../../../proxy/webrtc/werift_fast_path.ts";
import { chooseViewerH264 } from "../../../proxy/whep/whep_offer.ts";
import { RTP_EXTENSION } from "../../../shared/mod.ts";
import { replayFixture, startWhipServer, waitFor, type WhipTestServer } from "../../e2e/whip_harness.ts";
import { TwccPublisher, twccPublisherConfig } from "../../support/twcc_publisher.ts";

const TOKEN = "tok";
let server: WhipTestServer;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
beforeAll(() => {
  configureLog({ level: "silent" });
  server = startWhipServer(new Map([[1, TOKEN], [2, TOKEN]]));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await server.stop();
});

const lines = (sdp: string | undefined, pattern: RegExp) => (sdp ?? "").split("\r\n").filter((l) => pattern.test(l));

/** A publisher on dataflow `id`, connected and replaying the fixture. */
async function streaming(id: number, twcc: boolean) {
  const pub = new TwccPublisher({ url: server.whipUrl(id), token: TOKEN, twcc });
  cleanups.push(() => pub.close());
  await pub.start();
  expect(await waitFor(() => pub.state === "connected", 10_000)).toBe(true);
  const replay = replayFixture((p) => pub.sendRtp(p));
  cleanups.push(() => replay.stop());
  return { pub, replay };
}

describe("transport-cc on the WHIP ingest", () => {
  test("the proxy's werift runs with the fast path (pinIngestFeedback included)", () => {
    expect(installWeriftFastPath(logger("test"))).toEqual({ installed: true });
  });

  test("an offer with transport-cc is answered with it; TransportWideCC feedback reports the sent packets as received; the sender's estimator gets a bitrate", async () => {
    const srtpBefore = srtpFastCounters.fast;
    const sentBefore = twccCounters.feedbacks;
    const { pub, replay } = await streaming(1, true);
    const offered = lines(pub.offer, /transport-cc|transport-wide/);
    expect(offered).toEqual(["a=rtcp-fb:102 transport-cc", expect.stringMatching(/^a=extmap:\d+ /)]);
    expect(offered[1]).toEndWith(` ${RTP_EXTENSION.transportWideCc}`);
    expect(lines(pub.answer, /transport-cc|transport-wide/)).toEqual(offered); // the offer's id
    const bwe = pub.sender!.senderBWE;
    // ReceiverTWCC sends one feedback per 11 packets (the fixture: a few packets a picture, 30 a second).
    expect(await waitFor(() => pub.feedbacks.length >= 5 && bwe.availableBitrate > 0, 15_000)).toBe(true);
    replay.stop();
    const session = server.sessions.find((s) => s.info.dataflowId === 1)!;
    expect(session.packets).toBeGreaterThan(0);
    expect(twccCounters.feedbacks - sentBefore).toBeGreaterThanOrEqual(pub.feedbacks.length);
    // Every packet carries the sequence number (a header extension): still the lean SRTP decrypt.
    expect(srtpFastCounters.fast - srtpBefore).toBeGreaterThan(session.packets * 0.9);
    const ssrc = pub.sender!.ssrc;
    for (const fb of pub.feedbacks) expect(fb.mediaSourceSsrc).toBe(ssrc);
    // As on the wire (§3.1): fb pkt count counts up from 0; the feedbacks tile the transport-wide
    // sequence numbers werift's sender wrote (1, 2, ...; nothing is lost on loopback), at most 11
    // at a time (fewer when 100 ms passed), each packet received with a delta.
    const fbs = pub.feedbacks;
    expect(fbs.map((fb) => fb.fbPktCount)).toEqual(fbs.map((_, i) => i & 0xff));
    expect(fbs[0]!.baseSequenceNumber).toBe(1);
    for (const [i, fb] of fbs.entries()) {
      if (i > 0) expect(fb.baseSequenceNumber).toBe(fbs[i - 1]!.baseSequenceNumber + fbs[i - 1]!.packetStatusCount);
      expect(fb.packetStatusCount).toBeLessThanOrEqual(11);
      expect(fb.recvDeltas.length).toBe(fb.packetStatusCount);
    }
    // Arrival times read back (reference time + deltas, µs) never go backwards across feedbacks,
    // nor do werift's receivedAtMs (ms), what its estimator reads; the span is the time streamed.
    const times = fbs.flatMap((fb) => {
      let at = fb.referenceTime * 64_000;
      return fb.recvDeltas.map((d) => (at += d.delta));
    });
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    const received = fbs.flatMap((fb) => fb.packetResults.slice(0, fb.packetStatusCount)).filter((r) => r.received);
    expect(received.length).toBe(times.length);
    for (let i = 1; i < received.length; i++) expect(received[i]!.receivedAtMs).toBeGreaterThanOrEqual(received[i - 1]!.receivedAtMs);
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(100_000);
    expect(Number.isFinite(bwe.availableBitrate)).toBe(true);
  }, 30_000);

  test("an offer without transport-cc (older agents, senders without TWCC) is answered without it and gets no TransportWideCC, while receiver reports still come", async () => {
    const { pub } = await streaming(2, false);
    expect(lines(pub.offer, /transport-cc|transport-wide/)).toEqual([]);
    expect(lines(pub.answer, /transport-cc|transport-wide/)).toEqual([]);
    // 60 packets would have made 5 feedbacks; a receiver report (every 0.5-1.5 s) shows RTCP flows.
    expect(await waitFor(() => (server.sessions.find((s) => s.info.dataflowId === 2)?.packets ?? 0) >= 60 && pub.rtcpPackets > 0, 15_000)).toBe(true);
    expect(pub.feedbacks).toEqual([]);
    expect(pub.sender!.senderBWE.availableBitrate).toBe(0);
  }, 30_000);

  test("a WHEP answerer (sending) takes neither half from a viewer that offers transport-cc", async () => {
    const viewer = new RTCPeerConnection(twccPublisherConfig({ url: "http://127.0.0.1:1/whep/1" }));
    cleanups.push(() => viewer.close());
    viewer.addTransceiver("video", { direction: "recvonly" });
    const offer = (await viewer.createOffer()).sdp;
    expect(lines(offer, /transport-cc|transport-wide/).length).toBe(2);
    const whep = await answerPeer(chooseViewerH264(offer), { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" }, { direction: "sendonly" });
    cleanups.push(() => whep.pc.close());
    expect(lines(whep.answer, /transport-cc|transport-wide/)).toEqual([]);
  }, 15_000);
});
