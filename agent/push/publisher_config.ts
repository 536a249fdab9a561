/**
 * Options of the WHIP publisher and the werift configuration made from them. No STUN or
 * TURN server unless given: werift would otherwise fall back to a public Google server.
 */
import { RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters } from "werift";
import { RTP_EXTENSION } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { CAPTURE_STAMP_ID } from "./capture_stamp.ts";

/** The id of the transport-wide sequence number extension (draft-holmer §2) in the offer (werift numbers extensions in order). */
export const TWCC_ID = 2;

/** A STUN/TURN server as RTCPeerConnection takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Options of `new WhipPublisher()`; each field documents its default. */
export interface WhipPublisherOptions {
  /** WHIP endpoint, e.g. `https://mec/whip/42`. */
  url: string;
  /** Bearer token (the dataflow's ingest token). */
  token?: string;
  /** STUN/TURN servers for full ICE. Default none. */
  iceServers?: IceServer[];
  /**
   * Local IPv4 addresses to offer candidates on (and bind to, when only one); others are
   * removed from the offer. Default: every non-internal address werift finds.
   */
  interfaceAddresses?: string[];
  /** Also gather IPv6 host candidates. Default false. */
  useIpv6?: boolean;
  /** A connected session with no RTCP from the receiver for this long is lost. Default 3000 ms. */
  rtcpTimeoutMs?: number;
  /** A session not connected this long after the answer has failed. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** ICE gathering limit. Default 5000 ms. */
  gatherTimeoutMs?: number;
  /** HTTP timeout of the POST. Default 10000 ms. */
  timeoutMs?: number;
  /**
   * Frame rate of the capture: sets the timestamp step of a source-restart splice when the
   * old source's picture interval was not seen. Default 30.
   */
  fps?: number;
  /** `fetch` to use. Default the global one. */
  fetch?: typeof fetch;
  log?: Logger;
}

/** H.264 constrained baseline, packetization-mode 1 (RFC 6184 §8.1), plus its RTX (RFC 4588 §8.1). */
export function publisherCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({
      mimeType: "video/H264",
      clockRate: 90000,
      payloadType: 102,
      // transport-cc: the proxy's feedback for the uplink estimate (push/link_estimator.ts).
      rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }, { type: "transport-cc" }],
      parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    }),
    new RTCRtpCodecParameters({ mimeType: "video/rtx", clockRate: 90000, payloadType: 103, parameters: "apt=102" }),
  ];
}

/**
 * abs-capture-time (RFC 8285 `a=extmap`), how each picture's capture time reaches the proxy.
 * Chosen over RTCP sender reports: werift 0.25.2 sends its own SRs, pairing the RTP timestamp
 * of the packet it last sent with its send time (not the capture time; a GOP replayed at
 * connect would map to the wrong instant) on `performance.timeOrigin` (not the agent's clock),
 * and writes the NTP fraction as the decimal digits of the milliseconds (`ntpTime()` in
 * webrtc/src/utils.ts), so its SR times are off by up to a second. A stamp per picture needs no
 * SR at all, is right from the first frame, and survives the GOP cache and source splices.
 */
export function publisherHeaderExtensions(): RTCRtpHeaderExtensionParameters[] {
  return [
    new RTCRtpHeaderExtensionParameters({ id: CAPTURE_STAMP_ID, uri: RTP_EXTENSION.absCaptureTime }),
    // The transport-wide sequence number werift writes into every packet once negotiated.
    new RTCRtpHeaderExtensionParameters({ id: TWCC_ID, uri: RTP_EXTENSION.transportWideCc }),
  ];
}

/** werift's PeerConfig for these options. */
export function publisherConfig(options: WhipPublisherOptions) {
  const addresses = options.interfaceAddresses ?? [];
  return {
    codecs: { video: publisherCodecs(), audio: [] },
    headerExtensions: { video: publisherHeaderExtensions(), audio: [] },
    iceServers: options.iceServers ?? [],
    iceAdditionalHostAddresses: addresses.length ? [...addresses] : undefined,
    // Bind to the address only when there is one: werift binds every socket to it.
    iceInterfaceAddresses: addresses.length === 1 ? { udp4: addresses[0]! } : undefined,
    iceUseIpv4: true,
    iceUseIpv6: options.useIpv6 ?? false,
    bundlePolicy: "max-bundle" as const,
  };
}
