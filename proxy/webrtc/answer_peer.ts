/**
 * The werift answerer shared by the WHIP ingest (recvonly) and the WHEP viewers (sendonly):
 * ICE-lite (RFC 8445 §2.5) with only the configured addresses, one H.264 transceiver, no
 * public STUN fallback, and an answer that carries its candidates (non-trickle, RFC 9725 §4.2).
 *
 * werift 0.25 (ice/src/ice.js, `applyStunTurnServersFromOptions`) gathers a server-reflexive
 * candidate from stun.l.google.com:19302 whenever ICE is not lite and no STUN server is
 * configured, e.g. with only a TURN server. Its config has no switch for that, so before
 * gathering each ICE connection gets `stunServer: false`: not nullish, so werift's `??`
 * default never applies, and falsy, so no STUN query is made.
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  type RTCRtpTransceiver,
  UdpTransport,
} from "werift";
import { logger } from "../log.ts";
import { guardUdpErrors } from "../../shared/runtime/udp_errors.ts";
import { RTP_EXTENSION } from "../../shared/mod.ts";
import type { H264Choice } from "./h264_offer.ts";
import type { IngestIceOptions } from "./ice_options.ts";
import { keepCandidates } from "../../shared/runtime/sdp_candidates.ts";

// A viewer or publisher that went away must not end the process (shared/runtime/udp_errors.ts).
const webrtcLog = logger("webrtc");
guardUdpErrors(UdpTransport, (msg, fields) => webrtcLog.warn(msg, fields));

/** Gathering is local only (host candidates), so it takes milliseconds; this is a safety net. */
const GATHER_TIMEOUT_MS = 5_000;

/** H.264 with RTX for NACKed packets (RFC 4588); the payload types come from the offer. */
function videoCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({
      mimeType: "video/H264",
      clockRate: 90000,
      payloadType: 96,
      // RFC 4585 §4.2 (nack, nack pli), RFC 5104 §7.1 (ccm fir)
      rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }],
      parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    }),
    new RTCRtpCodecParameters({ mimeType: "video/rtx", clockRate: 90000, payloadType: 97, parameters: "apt=96" }),
  ];
}

/** A negotiated answerer. */
export interface AnswerPeer {
  pc: RTCPeerConnection;
  transceiver: RTCRtpTransceiver;
  /** Answer SDP with only the announced candidates. */
  answer: string;
}

/** How `answerPeer()` sets up the one video transceiver. */
export interface AnswerPeerOptions {
  /** "recvonly" for the WHIP ingest, "sendonly" for a WHEP viewer. */
  direction: "recvonly" | "sendonly";
  /**
   * Runs once gathering is complete, before the candidates are filtered (the ingest sizes its
   * UDP sockets here); a throw closes the peer like any other failure. Default: nothing.
   */
  afterGathering?(pc: RTCPeerConnection): void;
}

/**
 * werift's RTCPeerConnection config for `ice` (exported for tests). A receiving peer (the WHIP
 * ingest) takes abs-capture-time, each picture's capture time on the sender's clock; werift
 * answers with the offer's id for it (proxy/media/capture_clock.ts reads it).
 */
export function peerConfig(ice: IngestIceOptions, direction: AnswerPeerOptions["direction"] = "sendonly") {
  const lite = ice.lite ?? true;
  const video = direction === "recvonly" ? [new RTCRtpHeaderExtensionParameters({ uri: RTP_EXTENSION.absCaptureTime })] : [];
  return {
    codecs: { video: videoCodecs(), audio: [] },
    headerExtensions: { video, audio: [] },
    iceLite: lite,
    // Explicit, so werift never falls back to its built-in public STUN server.
    iceServers: lite ? [] : (ice.servers ?? []),
    icePortRange: ice.portRange,
    iceAdditionalHostAddresses: ice.addresses?.length ? [...ice.addresses] : undefined,
    iceInterfaceAddresses: ice.bindAddress ? { udp4: ice.bindAddress } : undefined,
    iceUseIpv4: true,
    iceUseIpv6: false,
    bundlePolicy: "max-bundle" as const,
  };
}

function waitGathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`ICE gathering did not complete within ${GATHER_TIMEOUT_MS} ms`));
    }, GATHER_TIMEOUT_MS);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state !== "complete") return;
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    });
  });
}

/** What `withoutDefaultStun` touches of werift's ICE `Connection`. */
interface IceConnectionLike {
  stunServer?: unknown;
  options: { stunServer?: unknown };
}

/**
 * Switches off werift's public STUN fallback (see the file comment) on every ICE connection of
 * `pc` that has no STUN server of ours; call it after setRemoteDescription, before gathering.
 * Returns the number of connections seen; throws when werift's internals are not found.
 */
export function withoutDefaultStun(pc: RTCPeerConnection): number {
  let n = 0;
  for (const transport of pc.iceTransports) {
    const connection = (transport as unknown as { connection?: IceConnectionLike }).connection;
    if (!connection?.options) continue;
    n++;
    if (connection.options.stunServer) continue; // one of ours (from --ice-servers)
    connection.options.stunServer = false;
    connection.stunServer = undefined;
  }
  if (n === 0) throw new Error("found no werift ICE connection to keep off public STUN; werift's internals changed");
  return n;
}

/**
 * werift writes `a=ice-lite` into each m-section; RFC 8839 §5.3 defines it as a
 * session-level attribute, and browsers only read it there.
 */
export function liteAtSessionLevel(sdp: string): string {
  const lines = sdp.split("\r\n");
  if (!lines.includes("a=ice-lite")) return sdp;
  const rest = lines.filter((l) => l !== "a=ice-lite");
  const firstMedia = rest.findIndex((l) => l.startsWith("m="));
  rest.splice(firstMedia < 0 ? rest.length : firstMedia, 0, "a=ice-lite");
  return rest.join("\r\n");
}

/**
 * Answers `choice.sdp` (an offer already narrowed to one H.264 payload type). Closes the
 * peer and rethrows if werift rejects the offer or no announced candidate is left.
 */
export async function answerPeer(choice: H264Choice, ice: IngestIceOptions, options: AnswerPeerOptions): Promise<AnswerPeer> {
  const pc = new RTCPeerConnection(peerConfig(ice, options.direction));
  try {
    await pc.setRemoteDescription({ type: "offer", sdp: choice.sdp });
    const transceiver = pc.getTransceivers().find((t) => t.kind === "video");
    if (!transceiver) throw new Error("werift created no video transceiver for the offer");
    transceiver.setDirection(options.direction);
    withoutDefaultStun(pc);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await waitGathered(pc);
    const local = pc.localDescription?.sdp;
    if (!local) throw new Error("werift produced no local description");
    options.afterGathering?.(pc);
    const allowed = new Set(ice.addresses ?? []);
    const filtered = keepCandidates(local, allowed);
    if (filtered.kept === 0) throw new Error(`no ICE candidate on the announced addresses "${[...allowed].join(",")}"`);
    return { pc, transceiver, answer: liteAtSessionLevel(filtered.sdp) };
  } catch (error) {
    await pc.close().catch(() => undefined);
    throw error;
  }
}
