/**
 * Builds the werift answerer of one WHEP viewer: ICE-lite (RFC 8445 §2.5) on the same
 * announced addresses as the WHIP ingest, one sendonly H.264 transceiver, no public STUN
 * fallback, and an answer that carries its candidates (non-trickle). The candidate filter and
 * the session-level `a=ice-lite` come from the ingest (proxy/ingest/ingest_peer.ts).
 */
import { RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpSender } from "werift";
import type { H264Choice } from "../ingest/h264_offer.ts";
import { liteAtSessionLevel } from "../ingest/ingest_peer.ts";
import type { IngestIceOptions } from "../ingest/ingest_types.ts";
import { keepCandidates } from "../ingest/sdp_candidates.ts";

/** Gathering is local only (host candidates), so it takes milliseconds; this is a safety net. */
const GATHER_TIMEOUT_MS = 5_000;

/** H.264 as we send it, with RTX for NACKed packets (RFC 4588); payload types follow the offer. */
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

/** A negotiated WHEP answerer. */
export interface WhepPeer {
  pc: RTCPeerConnection;
  sender: RTCRtpSender;
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
 * Answers `choice.sdp` (a player's offer narrowed by `chooseViewerH264`) as a sendonly peer.
 * Closes the peer and rethrows if werift rejects the offer.
 */
export async function answerViewer(choice: H264Choice, ice: IngestIceOptions): Promise<WhepPeer> {
  const pc = new RTCPeerConnection(peerConfig(ice));
  try {
    await pc.setRemoteDescription({ type: "offer", sdp: choice.sdp });
    const transceiver = pc.getTransceivers().find((t) => t.kind === "video");
    if (!transceiver) throw new Error("werift created no video transceiver for the offer");
    transceiver.setDirection("sendonly");
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await waitGathered(pc);
    const local = pc.localDescription?.sdp;
    if (!local) throw new Error("werift produced no local description");
    const allowed = new Set(ice.addresses ?? []);
    const filtered = keepCandidates(local, allowed);
    if (filtered.kept === 0) throw new Error(`no ICE candidate on the announced addresses "${[...allowed].join(",")}"`);
    return { pc, sender: transceiver.sender, answer: liteAtSessionLevel(filtered.sdp) };
  } catch (error) {
    await pc.close().catch(() => undefined);
    throw error;
  }
}
