import { describe, expect, test } from "bun:test";
import { chooseH264, OfferError } from "../../../proxy/webrtc/h264_offer.ts";
import { RTP_EXTENSION } from "../../../shared/mod.ts";
import { CHROMIUM_OFFER } from "../ingest/chromium_offer.ts";

function videoSection(sdp: string): string[] {
  const lines = sdp.split("\r\n");
  const start = lines.findIndex((l) => l.startsWith("m=video"));
  const end = lines.findIndex((l, i) => i > start && l.startsWith("m="));
  return lines.slice(start, end < 0 ? undefined : end).filter((l) => l);
}

function rejects(sdp: string): OfferError {
  try {
    chooseH264(sdp);
  } catch (error) {
    if (error instanceof OfferError) return error;
    throw error;
  }
  throw new Error("chooseH264 accepted the offer");
}

describe("chooseH264()", () => {
  test("picks Chromium's constrained-baseline packetization-mode 1 and its RTX, dropping the rest", () => {
    const choice = chooseH264(CHROMIUM_OFFER);
    expect(choice.payloadType).toBe(106);
    expect(choice.rtxPayloadType).toBe(107);
    expect(choice.profileLevelId).toBe("42e01f");
    expect(choice.feedback).toEqual(["ccm fir", "nack", "nack pli"]);
    const video = videoSection(choice.sdp);
    expect(video[0]).toBe("m=video 9 UDP/TLS/RTP/SAVPF 106 107");
    expect(video.filter((l) => l.startsWith("a=rtpmap:"))).toEqual(["a=rtpmap:106 H264/90000", "a=rtpmap:107 rtx/90000"]);
    expect(video.filter((l) => l.startsWith("a=rtcp-fb:"))).toEqual([
      "a=rtcp-fb:106 ccm fir", "a=rtcp-fb:106 nack", "a=rtcp-fb:106 nack pli",
    ]);
    // Everything else (ICE, DTLS, BUNDLE, SSRCs, the audio section) is left as offered.
    expect(choice.sdp).toContain("a=group:BUNDLE 0 1");
    expect(choice.sdp).toContain("a=ssrc-group:FID 2222 3333");
    expect(choice.sdp).toContain("m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126");
  });

  test("prefers baseline, then main, then high, among packetization-mode 1 variants", () => {
    const no42e0 = CHROMIUM_OFFER.replace("profile-level-id=42e01f", "profile-level-id=64001f");
    expect(chooseH264(no42e0).payloadType).toBe(102);
    const onlyMainHigh = no42e0.replace("packetization-mode=1;profile-level-id=42001f", "packetization-mode=0;profile-level-id=42001f");
    expect(chooseH264(onlyMainHigh).payloadType).toBe(127);
  });

  test("answers 406 when the offer has no H.264 packetization-mode 1", () => {
    const pm0 = CHROMIUM_OFFER.replaceAll("packetization-mode=1", "packetization-mode=0");
    const error = rejects(pm0);
    expect(error.status).toBe(406);
    expect(error.message).toContain("packetization-mode=1");
    const vp8only = CHROMIUM_OFFER.replaceAll("H264/90000", "VP8/90000");
    expect(rejects(vp8only).status).toBe(406);
    const audioOnly = CHROMIUM_OFFER.slice(0, CHROMIUM_OFFER.indexOf("m=video"));
    expect(rejects(audioOnly).status).toBe(406);
  });

  test("transportCc keeps Chromium's transport-cc and its sequence number extension; without either half, or without the option (WHEP), neither is kept", () => {
    const extmap = `a=extmap:3 ${RTP_EXTENSION.transportWideCc}`;
    const withExt = CHROMIUM_OFFER.replace("a=mid:1\r\n", `a=mid:1\r\n${extmap}\r\n`);
    const feedbackLines = (sdp: string) => videoSection(sdp).filter((l) => l.startsWith("a=rtcp-fb:"));
    const ingest = chooseH264(withExt, { transportCc: true });
    expect(ingest.feedback).toEqual(["transport-cc", "ccm fir", "nack", "nack pli"]);
    expect(feedbackLines(ingest.sdp)).toEqual(["a=rtcp-fb:106 transport-cc", "a=rtcp-fb:106 ccm fir", "a=rtcp-fb:106 nack", "a=rtcp-fb:106 nack pli"]);
    expect(videoSection(ingest.sdp)).toContain(extmap);
    // goog-remb stays out: werift's receiver sends no REMB.
    expect(ingest.sdp).not.toContain("goog-remb");
    for (const [what, choice] of [
      ["no extension (the fixture has none)", chooseH264(CHROMIUM_OFFER, { transportCc: true })],
      ["no option (a WHEP viewer's offer goes this way)", chooseH264(withExt)],
      ["no transport-cc feedback", chooseH264(withExt.replaceAll(/a=rtcp-fb:\d+ transport-cc\r\n/g, ""), { transportCc: true })],
    ] as const) {
      expect({ what, feedback: choice.feedback }).toEqual({ what, feedback: ["ccm fir", "nack", "nack pli"] });
      const video = videoSection(choice.sdp).join("\n");
      expect({ what, twcc: video.includes("transport-cc") || video.includes(RTP_EXTENSION.transportWideCc) }).toEqual({ what, twcc: false });
    }
  });

  test("answers 400 for malformed or unusable offers, naming what is wrong", () => {
    expect(rejects("hello").message).toContain("v=0");
    expect(rejects("").status).toBe(400);
    expect(rejects(CHROMIUM_OFFER.replaceAll(/a=fingerprint:.*\r\n/g, "")).message).toContain("fingerprint");
    expect(rejects(CHROMIUM_OFFER.replaceAll(/a=ice-ufrag:.*\r\n/g, "")).message).toContain("ICE");
    expect(rejects(CHROMIUM_OFFER.replace("a=mid:1\r\na=sendonly", "a=mid:1\r\na=recvonly")).message).toContain("recvonly");
    expect(rejects(CHROMIUM_OFFER.replace("m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF x96")).status).toBe(400);
    expect(rejects(`${CHROMIUM_OFFER}garbage line\r\n`).message).toContain("garbage");
    const twoVideos = CHROMIUM_OFFER + videoSection(CHROMIUM_OFFER).join("\r\n") + "\r\n";
    expect(rejects(twoVideos).message).toContain("2 video");
    expect(rejects(`v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n${"a=x\r\n".repeat(20000)}`).status).toBe(400);
  });
});
