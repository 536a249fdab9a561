/**
 * Builds the werift answerer of one WHIP session: ICE-lite (RFC 8445 §2.5) with only the
 * configured addresses, one recvonly H.264 transceiver, no public STUN fallback, and an
 * answer that carries its candidates (non-trickle, RFC 9725 §4.2).
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
} from "werift";
import type { H264Choice } from "./h264_offer.ts";
import type { IngestIceOptions } from "./ingest_types.ts";
import { keepCandidates } from "./sdp_candidates.ts";

/** Gathering is local only (host candidates), so it takes milliseconds; this is a safety net. */
const GATHER_TIMEOUT_MS = 5_000;

/** Our side of the negotiated H.264: the payload types come from the offer. */
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

/** 4 MiB: a 720p keyframe from a gst encoder arrives as one burst of ~150 datagrams. */
const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;

interface SocketLike {
  setRecvBufferSize?(size: number): void;
}

/**
 * Raises SO_RCVBUF of the session's UDP sockets. The default (~208 KiB, ~90 full-size
 * datagrams) overflows on keyframe bursts — measured as RcvbufErrors in /proc/net/snmp and
 * NACK round trips at 4 Mbit/s on loopback. The kernel caps it at net.core.rmem_max.
 * werift does not expose its sockets, so this walks its ICE internals.
 */
function enlargeReceiveBuffers(pc: RTCPeerConnection, bytes: number): number {
  let done = 0;
  for (const transport of pc.iceTransports) {
    const protocols = (transport.connection as unknown as { protocols?: { transport?: { socket?: SocketLike } }[] }).protocols ?? [];
    for (const protocol of protocols) {
      const socket = protocol.transport?.socket;
      if (typeof socket?.setRecvBufferSize !== "function") continue;
      socket.setRecvBufferSize(bytes);
      done++;
    }
  }
  if (done === 0) throw new Error("found no werift UDP socket to size; werift's internals changed");
  return done;
}

/** A negotiated answerer. */
export interface IngestPeer {
  pc: RTCPeerConnection;
  transceiver: RTCRtpTransceiver;
  /** Answer SDP with only the announced candidates. */
  answer: string;
}

function peerConfig(ice: IngestIceOptions) {
  const lite = ice.lite ?? true;
  return {
    codecs: { video: videoCodecs(), audio: [] },
    headerExtensions: { video: [], audio: [] },
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
 * peer and rethrows if werift rejects the offer.
 */
export async function answerOffer(choice: H264Choice, ice: IngestIceOptions): Promise<IngestPeer> {
  const pc = new RTCPeerConnection(peerConfig(ice));
  try {
    await pc.setRemoteDescription({ type: "offer", sdp: choice.sdp });
    const transceiver = pc.getTransceivers().find((t) => t.kind === "video");
    if (!transceiver) throw new Error("werift created no video transceiver for the offer");
    transceiver.setDirection("recvonly");
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await waitGathered(pc);
    const local = pc.localDescription?.sdp;
    if (!local) throw new Error("werift produced no local description");
    enlargeReceiveBuffers(pc, ice.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER);
    const allowed = new Set(ice.addresses ?? []);
    const filtered = keepCandidates(local, allowed);
    if (filtered.kept === 0) throw new Error(`no ICE candidate on the announced addresses "${[...allowed].join(",")}"`);
    return { pc, transceiver, answer: liteAtSessionLevel(filtered.sdp) };
  } catch (error) {
    await pc.close().catch(() => undefined);
    throw error;
  }
}
