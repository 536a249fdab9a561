// abs-capture-time in the WHIP offer/answer, with werift on both sides: the agent's publisher
// config offers it, chooseH264 finds its id, the ingest's answerer keeps it (same id), a WHEP
// (sending) answerer does not take it.
import { afterAll, describe, expect, test } from "bun:test";
import { RTCPeerConnection } from "werift";
import { publisherConfig, TWCC_ID } from "../../../agent/push/publisher_config.ts";
import { chooseH264 } from "../../../proxy/webrtc/h264_offer.ts";
import { answerPeer } from "../../../proxy/webrtc/answer_peer.ts";
import { RTP_EXTENSION } from "../../../shared/mod.ts";

const peers: RTCPeerConnection[] = [];
afterAll(async () => {
  for (const pc of peers) await pc.close().catch(() => undefined);
});

async function agentOffer(): Promise<string> {
  const pc = new RTCPeerConnection(publisherConfig({ url: "http://127.0.0.1:1/whip/1", interfaceAddresses: ["127.0.0.1"] }));
  peers.push(pc);
  pc.addTransceiver("video", { direction: "sendonly" });
  return (await pc.createOffer()).sdp;
}

const extmap = (sdp: string) => sdp.split("\r\n").filter((l) => l.startsWith("a=extmap:"));

describe("abs-capture-time negotiation", () => {
  test("the agent offers it; chooseH264() reads its id; the ingest answers it with that id", async () => {
    const offer = await agentOffer();
    // transport-wide-cc beside it: the agent's uplink estimate (agent/push/link_estimator.ts).
    expect(extmap(offer)).toEqual([`a=extmap:1 ${RTP_EXTENSION.absCaptureTime}`, `a=extmap:${TWCC_ID} ${RTP_EXTENSION.transportWideCc}`]);
    const choice = chooseH264(offer);
    expect(choice.absCaptureTimeId).toBe(1);
    const ice = { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" };
    const ingest = await answerPeer(choice, ice, { direction: "recvonly" });
    peers.push(ingest.pc);
    expect(extmap(ingest.answer)).toEqual([`a=extmap:1 ${RTP_EXTENSION.absCaptureTime}`]);
  }, 15_000);

  test("an offer without it has no id, and a sending answerer leaves it out", async () => {
    const offer = await agentOffer();
    expect(chooseH264(offer.replace(/a=extmap:[^\r]*\r\n/g, "")).absCaptureTimeId).toBeUndefined();
    const whep = await answerPeer(chooseH264(offer.replace("a=sendonly", "a=sendrecv")), { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" }, { direction: "sendonly" });
    peers.push(whep.pc);
    expect(extmap(whep.answer)).toEqual([]);
  }, 15_000);
});
