/**
 * Builds the werift answerer of one WHEP viewer: the shared ICE-lite answerer
 * (proxy/webrtc/answer_peer.ts) on the same announced addresses as the WHIP ingest, with one
 * sendonly H.264 transceiver.
 */
import type { RTCPeerConnection, RTCRtpSender } from "werift";
import type { H264Choice } from "../webrtc/h264_offer.ts";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";
import { answerPeer } from "../webrtc/answer_peer.ts";

/** A negotiated WHEP answerer. */
export interface WhepPeer {
  pc: RTCPeerConnection;
  sender: RTCRtpSender;
  /** Answer SDP with only the announced candidates. */
  answer: string;
}

/**
 * Answers `choice.sdp` (a player's offer narrowed by `chooseViewerH264`) as a sendonly peer.
 * Closes the peer and rethrows if werift rejects the offer.
 */
export async function answerViewer(choice: H264Choice, ice: IngestIceOptions): Promise<WhepPeer> {
  const { pc, transceiver, answer } = await answerPeer(choice, ice, { direction: "sendonly" });
  return { pc, sender: transceiver.sender, answer };
}
