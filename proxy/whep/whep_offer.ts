// Checks a WHEP offer (draft-ietf-wish-whep §4.2: the player offers, `recvonly` video) and
// narrows its video m-section to one H.264 packetization-mode 1 payload type, its RTX and
// the feedback we answer (`nack`, `nack pli`, `ccm fir`).
//
// The checks and the choice of payload type are the WHIP ingest's (`chooseH264`, see
// proxy/webrtc/h264_offer.ts); only the direction differs. A player's offer is
// `a=recvonly` (or `a=sendrecv`), so it is handed to `chooseH264` with its directions
// mirrored and mirrored back afterwards. Pure text in, text out.
import { chooseH264, type H264Choice, OfferError } from "../webrtc/h264_offer.ts";

export { OfferError };

function mirror(sdp: string, from: string, to: string): string {
  return sdp.split(/\r?\n/).map((line) => (line === from ? to : line)).join("\r\n");
}

function videoDirection(sdp: string): string | undefined {
  let inVideo = false;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) inVideo = line.startsWith("m=video ");
    else if (inVideo && /^a=(sendonly|sendrecv|recvonly|inactive)$/.test(line)) return line.slice(2);
  }
  return undefined;
}

/**
 * Validates `sdp` as a WHEP offer and narrows its video m-section to H.264 packetization-mode 1.
 * Throws {@link OfferError}: 400 when malformed or when the video is not `recvonly`/`sendrecv`,
 * 406 when it offers no usable H.264.
 */
export function chooseViewerH264(sdp: string): H264Choice {
  const direction = videoDirection(sdp) ?? "sendrecv";
  if (direction !== "recvonly" && direction !== "sendrecv") {
    throw new OfferError(`video m-section is "${direction}"; a WHEP player offers recvonly`, 400);
  }
  if (/^a=sendonly$/m.test(sdp)) throw new OfferError(`offer has a "sendonly" m-section; a WHEP player only receives`, 400);
  const choice = chooseH264(mirror(sdp, "a=recvonly", "a=sendonly"));
  return { ...choice, sdp: mirror(choice.sdp, "a=sendonly", "a=recvonly") };
}
