// The receiver's per-packet getters (proxy/webrtc/fast_receiver.ts) against werift's own: after
// the proxy negotiates Chromium's offer (without and with transport-cc), and on a receiver whose
// codecs are set and then renegotiated (prepareReceive, resyncCodecs) — nothing is frozen, every
// answer follows the codecs. codec.name equals werift's; a closed NACK handler books nothing, an
// open one as werift.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RTCRtpCodecParameters, RTCRtpReceiver } from "werift";
import { chooseH264 } from "../../../proxy/webrtc/h264_offer.ts";
import { answerPeer } from "../../../proxy/webrtc/answer_peer.ts";
import { pinIngestFeedback } from "../../../proxy/webrtc/fast_receiver.ts";
import { stockWerift } from "../../../proxy/webrtc/werift_fast_path.ts";
import { RTP_EXTENSION } from "../../../shared/mod.ts";
import { CHROMIUM_OFFER } from "../ingest/chromium_offer.ts";
import { ensureFastPath } from "./stock_werift.ts";

beforeAll(ensureFastPath);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const GETTERS = ["nackEnabled", "twccEnabled", "pliEnabled"] as const;
type Getters = Record<(typeof GETTERS)[number], unknown>;

/** The three getters as the receiver answers them now, and as werift's own code would. */
function both(receiver: RTCRtpReceiver): { fast: Getters; stock: Getters } {
  const fast = {} as Getters;
  const stock = {} as Getters;
  for (const key of GETTERS) {
    fast[key] = (receiver as unknown as Getters)[key];
    stock[key] = stockWerift().getters[key].call(receiver);
  }
  return { fast, stock };
}

/** Chromium's offer with the transport-wide sequence number extension (the fixture has no extmap lines). */
const TWCC_OFFER = CHROMIUM_OFFER.replace("a=mid:1\r\n", `a=mid:1\r\na=extmap:3 ${RTP_EXTENSION.transportWideCc}\r\n`);
/** The options the WHIP ingest chooses with (proxy/ingest/whip_routes.ts). */
const INGEST = { singleNalMode: true, transportCc: true };
const ICE = { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" };

const h264 = (payloadType: number, rtcpFeedback: { type: string; parameter?: string }[]) =>
  new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType, rtcpFeedback });
const rtx = (payloadType: number) => new RTCRtpCodecParameters({ mimeType: "video/rtx", clockRate: 90000, payloadType, parameters: `apt=${payloadType - 1}` });

describe("fast receiver getters", () => {
  test("are installed in place of werift's", () => {
    const d = Object.getOwnPropertyDescriptor(RTCRtpReceiver.prototype, "nackEnabled")!;
    expect(d.get).not.toBe(stockWerift().getters.nackEnabled);
  });

  test("after the proxy answers Chromium's offer: nack and pli on, no TWCC, as werift says", async () => {
    const peer = await answerPeer(chooseH264(CHROMIUM_OFFER), { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1" }, { direction: "recvonly" });
    cleanups.push(() => peer.pc.close());
    const { fast, stock } = both(peer.transceiver.receiver);
    expect(fast).toEqual(stock);
    expect(fast.nackEnabled).toEqual({ type: "nack" });
    expect(fast.pliEnabled).toEqual({ type: "nack" }); // werift looks for type "nack" only
    expect(fast.twccEnabled).toBeUndefined();
    for (const codec of Object.values((peer.transceiver.receiver as unknown as { codecs: Record<string, RTCRtpCodecParameters> }).codecs)) {
      expect(codec.name).toBe(stockWerift().getters.codecName.call(codec) as string);
    }
  });

  test("after the ingest answers an offer with transport-cc: TWCC on, as werift says, and werift's ReceiverTWCC made at negotiation", async () => {
    const peer = await answerPeer(chooseH264(TWCC_OFFER, INGEST), ICE, { direction: "recvonly" });
    cleanups.push(() => peer.pc.close());
    const { fast, stock } = both(peer.transceiver.receiver);
    expect(fast).toEqual(stock);
    expect(fast.twccEnabled).toEqual({ type: "transport-cc", parameter: undefined });
    expect((peer.transceiver.receiver as unknown as { receiverTWCC?: object }).receiverTWCC).toBeDefined();
  });

  test("follow the codecs when they are set and renegotiated (prepareReceive, resyncCodecs)", () => {
    const receiver = new RTCRtpReceiver({ debug: {} } as never, "video", 1);
    const steps: [string, () => void][] = [
      ["no codecs", () => undefined],
      ["h264 with nack", () => receiver.prepareReceive({ codecs: [rtx(97), h264(96, [{ type: "nack" }, { type: "nack", parameter: "pli" }])], encodings: [] } as never)],
      ["lower payload type added", () => receiver.prepareReceive({ codecs: [h264(35, [{ type: "transport-cc" }])], encodings: [] } as never)],
      ["resynced without feedback", () => receiver.resyncCodecs({ codecs: [h264(102, []), rtx(103)], encodings: [] } as never)],
      ["resynced with twcc and nack", () => receiver.resyncCodecs({ codecs: [rtx(121), h264(120, [{ type: "goog-remb" }, { type: "transport-cc" }, { type: "nack" }])], encodings: [] } as never)],
    ];
    const seen: Getters[] = [];
    for (const [what, step] of steps) {
      step();
      const { fast, stock } = both(receiver);
      expect({ what, ...fast }).toEqual({ what, ...stock });
      seen.push(fast);
    }
    expect(seen.map((g) => [g.nackEnabled !== undefined, g.twccEnabled !== undefined])).toEqual([
      [false, false], [true, false], [false, true], [false, false], [true, true],
    ]);
    (receiver as unknown as { nack: { close(): void } }).nack.close();
  });

  test("codec.name equals werift's split of mimeType, also when mimeType changes", () => {
    const codec = new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000 });
    expect(codec.name).toBe("H264");
    codec.mimeType = "video/rtx";
    expect(codec.name).toBe("rtx");
    codec.mimeType = "weird";
    expect(codec.name).toBeUndefined();
    for (const mime of ["audio/opus", "video/VP8", "video/red", "a/b/c", "/x", ""]) {
      codec.mimeType = mime;
      expect(codec.name).toBe(stockWerift().getters.codecName.call(codec) as string);
    }
  });

  test("a closed NACK handler books nothing; an open one books as werift's", () => {
    const receiver = new RTCRtpReceiver({ debug: {} } as never, "video", 1);
    const nack = (receiver as unknown as { nack: { addPacket(p: unknown): void; close(): void; newEstSeqNum: number; lostSeqNumbers: number[] } }).nack;
    nack.addPacket({ header: { sequenceNumber: 100, ssrc: 5 } });
    nack.addPacket({ header: { sequenceNumber: 101, ssrc: 5 } });
    expect(nack.newEstSeqNum).toBe(101);
    nack.close();
    nack.addPacket({ header: { sequenceNumber: 110, ssrc: 5 } });
    expect(nack.newEstSeqNum).toBe(101);
    expect(nack.lostSeqNumbers).toEqual([]);
  });

  test("pinIngestFeedback: an ingest receiver reads nack off (its handler is closed) and TWCC as it was negotiated (off, or on with transport-cc), other receivers unchanged", async () => {
    for (const [offer, twcc] of [[CHROMIUM_OFFER, false], [TWCC_OFFER, true]] as const) {
      const peer = await answerPeer(chooseH264(offer, INGEST), ICE, { direction: "recvonly" });
      cleanups.push(() => peer.pc.close());
      const receiver = peer.transceiver.receiver;
      const before = both(receiver).stock;
      pinIngestFeedback(receiver);
      const r = receiver as unknown as Getters;
      expect(r.nackEnabled).toBe(false);
      expect(r.twccEnabled).toEqual(before.twccEnabled);
      expect(r.twccEnabled !== undefined).toBe(twcc);
      expect(r.pliEnabled).toEqual(before.pliEnabled); // PLI still goes out
    }
    const other = new RTCRtpReceiver({ debug: {} } as never, "video", 1);
    other.prepareReceive({ codecs: [h264(96, [{ type: "nack" }, { type: "transport-cc" }])], encodings: [] } as never);
    const { fast, stock } = both(other);
    expect(fast).toEqual(stock);
    expect(fast.nackEnabled).toEqual({ type: "nack" });
    (other as unknown as { nack: { close(): void } }).nack.close();
  });
});
