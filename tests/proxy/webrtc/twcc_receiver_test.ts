// installTwccFeedback() (proxy/webrtc/twcc_receiver.ts) on werift's real ReceiverTWCC, made by an
// RTCRtpReceiver that negotiated transport-cc, its DTLS transport a recorder: as shipped, werift's
// feedback is one word longer than its RTCP length says and werift's own parser throws on it;
// installed, the proxy's feedback goes out on that transport and parses.
import { afterAll, describe, expect, test } from "bun:test";
import { RTCRtpCodecParameters, RTCRtpReceiver, RtcpPacketConverter, type RtcpTransportLayerFeedback, type TransportWideCC } from "werift";
import { configureLog, logger } from "../../../proxy/log.ts";
import { installTwccFeedback, twccCounters, twccFeedbackOf, uninstallTwccFeedback } from "../../../proxy/webrtc/twcc_receiver.ts";

configureLog({ level: "silent" });
afterAll(() => installTwccFeedback(logger("test")));

/** werift's ReceiverTWCC of a receiver that negotiated transport-cc, and what it sends. */
function receiverTwcc(): { twcc: { handleTWCC(seq: unknown): void }; sent: Buffer[] } {
  const sent: Buffer[] = [];
  const receiver = new RTCRtpReceiver({ debug: {} } as never, "video", 0x1111) as unknown as {
    prepareReceive(p: object): void;
    setDtlsTransport(t: object): void;
    setupTWCC(ssrc: number): void;
    receiverTWCC: { handleTWCC(seq: unknown): void };
    nack: { close(): void };
  };
  const h264 = new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 102, rtcpFeedback: [{ type: "transport-cc" }] });
  receiver.prepareReceive({ codecs: [h264], encodings: [] });
  receiver.setDtlsTransport({ sendRtcp: async (packets: { serialize(): Uint8Array }[]) => void sent.push(Buffer.concat(packets.map((p) => p.serialize()))) });
  receiver.setupTWCC(0x5eed);
  receiver.nack.close();
  return { twcc: receiver.receiverTWCC, sent };
}

describe("installTwccFeedback()", () => {
  test("werift as shipped: its feedback of 11 packets is one word longer than its RTCP length, and werift's parser throws on it", () => {
    uninstallTwccFeedback();
    try {
      const { twcc, sent } = receiverTwcc();
      for (let seq = 1; seq <= 11; seq++) twcc.handleTWCC(seq);
      expect(sent.length).toBe(1);
      const packet = sent[0]!;
      expect((packet.readUInt16BE(2) + 1) * 4).toBe(packet.length - 1);
      expect(() => RtcpPacketConverter.deSerialize(packet)).toThrow();
    } finally {
      expect(installTwccFeedback(logger("test"))).toBe(true);
    }
  });

  test("installed: the proxy's feedback goes out on the receiver's transport (its SSRCs), parses, and reports the 11 packets; a packet without a sequence number is skipped", async () => {
    expect(installTwccFeedback(logger("test"))).toBe(true);
    const { twcc, sent } = receiverTwcc();
    const before = twccCounters.feedbacks;
    twcc.handleTWCC(undefined);
    for (let seq = 1; seq <= 11; seq++) twcc.handleTWCC(seq);
    await Promise.resolve();
    expect(sent.length).toBe(1);
    expect(twccCounters.feedbacks - before).toBe(1);
    const [packet] = RtcpPacketConverter.deSerialize(sent[0]!) as RtcpTransportLayerFeedback[];
    const feedback = packet!.feedback as TransportWideCC;
    expect([feedback.senderSsrc, feedback.mediaSourceSsrc, feedback.baseSequenceNumber, feedback.packetStatusCount]).toEqual([0x1111, 0x5eed, 1, 11]);
    expect(feedback.recvDeltas.length).toBe(11);
    expect(twccFeedbackOf(twcc)?.counters).toMatchObject({ feedbacks: 1, reportedReceived: 11 });
  });
});
