// packetization-mode 0 offers (RFC 6184 §8.1: absent means mode 0), as GStreamer's webrtcbin
// makes before its payloader has caps: the ingest answers them, mode 0 in werift's real answer.
import { afterAll, describe, expect, test } from "bun:test";
import type { RTCPeerConnection } from "werift";
import { chooseH264, OfferError } from "../../../proxy/webrtc/h264_offer.ts";
import { answerOffer } from "../../../proxy/ingest/ingest_peer.ts";
import { chooseViewerH264 } from "../../../proxy/whep/whep_offer.ts";
import { CHROMIUM_OFFER } from "../ingest/chromium_offer.ts";

/** Chromium's offer with every H.264 fmtp's packetization-mode removed (mode 0 by absence). */
const MODE0 = CHROMIUM_OFFER.replace(/;?packetization-mode=[01]/g, "");
/** The same with only pt 102 (42001f) left in mode 1, the others mode 0. */
const MIXED = CHROMIUM_OFFER.replace(/;?packetization-mode=1(?!;profile-level-id=42001f)/g, "");

function fmtpOf(sdp: string, pt: number): string | undefined {
  return sdp.split(/\r?\n/).find((l) => l.startsWith(`a=fmtp:${pt} `));
}

const peers: RTCPeerConnection[] = [];
afterAll(async () => {
  for (const pc of peers) await pc.close();
});

describe("packetization-mode 0 offers", () => {
  test("the ingest takes an offer without packetization-mode (mode 0); the best profile is picked", () => {
    expect(MODE0).not.toContain("packetization-mode");
    const choice = chooseH264(MODE0, { singleNalMode: true });
    expect(choice.packetizationMode).toBe(0);
    expect(choice.profileLevelId).toBe("42e01f");
    expect(fmtpOf(choice.sdp, choice.payloadType)).not.toContain("packetization-mode");
  });

  test("mode 1 is preferred when both are offered, even over a better profile in mode 0", () => {
    expect(fmtpOf(MIXED, 106)).not.toContain("packetization-mode");
    const choice = chooseH264(MIXED, { singleNalMode: true });
    expect(choice).toMatchObject({ payloadType: 102, packetizationMode: 1, profileLevelId: "42001f" });
  });

  test("without singleNalMode (the WHEP viewer: our packetizer sends FU-A) mode 0 is still 406", () => {
    for (const offer of [() => chooseH264(MODE0), () => chooseViewerH264(MODE0.replaceAll("a=sendonly", "a=recvonly"))]) {
      let error: unknown;
      try {
        offer();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OfferError);
      expect((error as OfferError).status).toBe(406);
    }
  });

  test("werift's answer to a mode-0 offer keeps mode 0 (no packetization-mode=1 in its fmtp)", async () => {
    const choice = chooseH264(MODE0, { singleNalMode: true });
    const peer = await answerOffer(choice, { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" });
    peers.push(peer.pc);
    const fmtp = fmtpOf(peer.answer, choice.payloadType);
    expect(peer.answer).toContain(`a=rtpmap:${choice.payloadType} H264/90000`);
    expect(fmtp ?? "").not.toContain("packetization-mode=1");
    expect(peer.answer).not.toContain("packetization-mode=1");
    // And a mode-1 offer is still answered in mode 1.
    const one = chooseH264(CHROMIUM_OFFER, { singleNalMode: true });
    const peer1 = await answerOffer(one, { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" });
    peers.push(peer1.pc);
    expect(fmtpOf(peer1.answer, one.payloadType)).toContain("packetization-mode=1");
  }, 20_000);
});
