// A WHIP publisher for tests and bench/proxy.ts that can offer transport-wide congestion control
// (draft-holmer-rmcat-transport-wide-cc-extensions-01): the agent's werift config
// (agent/push/publisher_config.ts, which offers `a=rtcp-fb:PT transport-cc` on H.264 and the
// transport-wide sequence number extension, §2). With `twcc: false` both are taken out: an offer
// as older agents and senders without TWCC make. It keeps every TransportWideCC feedback (§3.1) the proxy sends back.
//
// Only what the tests need of agent/push/whip_publisher.ts: no GOP cache, no source splice, no
// RTCP watchdog; packets sent before "connected" are dropped (and counted).
import { RTCPeerConnection, type RTCRtpSender, RtcpTransportLayerFeedback, RTCRtpHeaderExtensionParameters, TransportWideCC } from "werift";
import { publisherConfig } from "../../agent/push/publisher_config.ts";
import { withoutPublicStun } from "../../agent/push/no_public_stun.ts";
import { weriftPacket } from "../../agent/push/werift_packet.ts";
import { deleteSession, postOffer } from "../../agent/push/whip_client.ts";
import { RTP_EXTENSION } from "../../shared/mod.ts";
import { keepCandidates } from "../../shared/runtime/sdp_candidates.ts";


/** Options of {@link TwccPublisher}; each field documents its default. */
export interface TwccPublisherOptions {
  url: string;
  token?: string;
  /** Offer transport-cc and the sequence number extension. Default true. */
  twcc?: boolean;
  /** Addresses to offer candidates on. Default ["127.0.0.1"]. */
  interfaceAddresses?: string[];
  /** `fetch` for the WHIP requests. Default the global one. */
  fetch?: typeof fetch;
}

/** The agent's werift config (which offers transport-cc since the agent adapts to its uplink), without it unless `twcc`. */
export function twccPublisherConfig(options: TwccPublisherOptions) {
  const config = publisherConfig({ url: options.url, interfaceAddresses: options.interfaceAddresses ?? ["127.0.0.1"] });
  if (!(options.twcc ?? true)) {
    for (const codec of config.codecs.video) codec.rtcpFeedback = codec.rtcpFeedback.filter((f) => f.type !== "transport-cc");
    config.headerExtensions.video = config.headerExtensions.video.filter((e: RTCRtpHeaderExtensionParameters) => e.uri !== RTP_EXTENSION.transportWideCc);
  }
  return config;
}

/** One WHIP session pushed with werift; see the file comment. */
export class TwccPublisher {
  state: "new" | "connecting" | "connected" | "closed" = "new";
  offer: string | undefined;
  answer: string | undefined;
  /** Every transport-cc feedback received, in order. */
  readonly feedbacks: TransportWideCC[] = [];
  /** RTCP packets of any kind received (receiver reports, NACK, PLI, feedback). */
  rtcpPackets = 0;
  readonly counters = { sent: 0, droppedNotConnected: 0, sendErrors: 0 };
  private pc: RTCPeerConnection | undefined;
  private location: string | undefined;
  private captureStampId: number | undefined;
  sender: RTCRtpSender | undefined;

  constructor(readonly options: TwccPublisherOptions) {}

  /** Offers, posts, applies the answer; resolves before the connection is up (see `state`). */
  async start(): Promise<void> {
    const pc = new RTCPeerConnection(twccPublisherConfig(this.options));
    this.pc = pc;
    const transceiver = pc.addTransceiver("video", { direction: "sendonly" });
    this.sender = transceiver.sender;
    withoutPublicStun(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const addresses = new Set(this.options.interfaceAddresses ?? ["127.0.0.1"]);
    this.offer = keepCandidates(pc.localDescription!.sdp, addresses).sdp;
    const { answer, location } = await postOffer(this.options.url, this.options.token, this.offer, { fetch: this.options.fetch });
    this.answer = answer;
    this.location = location;
    pc.connectionStateChange.subscribe((state) => {
      if (state === "connected" && this.state === "connecting") this.state = "connected";
    });
    transceiver.sender.dtlsTransport.onRtcp.subscribe((packet) => {
      this.rtcpPackets++;
      if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC) this.feedbacks.push(packet.feedback);
    });
    this.state = "connecting";
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    this.captureStampId = transceiver.headerExtensions.find((e) => e.uri === RTP_EXTENSION.absCaptureTime)?.id;
  }

  /** Sends one RTP packet (werift rewrites SSRC, payload type, extensions). */
  sendRtp(packet: Uint8Array): void {
    if (this.state !== "connected" || !this.sender) {
      this.counters.droppedNotConnected++;
      return;
    }
    this.counters.sent++;
    this.sender.sendRtp(weriftPacket(packet, this.captureStampId)).catch(() => this.counters.sendErrors++);
  }

  /** WHIP DELETE (errors ignored), then closes the peer. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.location) await deleteSession(this.location, this.options.token, { fetch: this.options.fetch }).catch(() => undefined);
    await this.pc?.close().catch(() => undefined);
  }
}

/** Resolves when ICE gathering is complete; host candidates only, so within milliseconds (5 s cap). */
function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error("ICE gathering did not complete within 5000 ms"));
    }, 5_000);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    });
  });
}
