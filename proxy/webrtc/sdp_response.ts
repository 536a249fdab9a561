/**
 * The answers the WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) endpoints share: 201 with
 * the SDP answer and its `Location` (RFC 9725 §4.2), the checks on an offer's request (415,
 * `--max-sdp-bytes`), the 405 for trickle ICE and ICE restart (§4.3.1), and errors as JSON
 * `{error, details}` like the rest of the API. Only the CORS headers and the bearer realm
 * differ between the two; the preflight is proxy/webrtc/sdp_preflight.ts.
 */
import { SDP_CONTENT_TYPE } from "../../shared/mod.ts";
import { HttpError } from "../api/http_error.ts";
import { OfferError } from "./h264_offer.ts";
import type { OfferLimit } from "./offer_limit.ts";

/** What one endpoint puts on every answer. */
export interface SdpEndpoint {
  /** CORS headers of every answer (e.g. which headers a page on another origin may read). */
  cors: Readonly<Record<string, string>>;
  /** The realm of `WWW-Authenticate: Bearer` on a 401. */
  realm: string;
}

/** The responses of one endpoint; see the file comment. */
export interface SdpResponses {
  /** `{error, details}` as JSON with `status`, plus `headers` (e.g. `retry-after`). */
  error(status: number, message: string, details?: unknown, headers?: Record<string, string>): Response;
  /** 201: the SDP answer, its resource at `location`. */
  answer(sdp: string, location: string): Response;
  /** The offer of `req`, or the error answer: 415 unless `application/sdp`, 413 over the limit. */
  readOffer(offers: OfferLimit, req: Request): Promise<string | Response>;
  /** An offer that could not be answered: an OfferError's own status (400/406), else 400. */
  offerFailed(e: unknown): Response;
  /** 400: answering the offer failed past its checks. */
  answerFailed(e: unknown): Response;
  /** 405 to PATCH: trickle ICE and ICE restart are not supported. */
  noTrickle(): Response;
}

/** The responses of the endpoint `endpoint` describes. */
export function sdpResponses(endpoint: SdpEndpoint): SdpResponses {
  const error = (status: number, message: string, details?: unknown, headers: Record<string, string> = {}): Response => {
    const body = details === undefined ? { error: message } : { error: message, details };
    const all: Record<string, string> = { ...endpoint.cors, "content-type": "application/json", ...headers };
    if (status === 401) all["www-authenticate"] = `Bearer realm="${endpoint.realm}"`;
    return new Response(JSON.stringify(body), { status, headers: all });
  };
  const answerFailed = (e: unknown) => error(400, "could not answer the SDP offer", e instanceof Error ? e.message : String(e));
  return {
    error,
    answer: (sdp, location) => new Response(sdp, { status: 201, headers: { ...endpoint.cors, "content-type": SDP_CONTENT_TYPE, location } }),
    readOffer: async (offers, req) => {
      const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== SDP_CONTENT_TYPE) return error(415, `content type must be "${SDP_CONTENT_TYPE}", got "${type}"`);
      const offer = await offers.read(req);
      return offer instanceof HttpError ? error(offer.status, offer.message) : offer;
    },
    offerFailed: (e) => e instanceof OfferError ? error(e.status, "unusable SDP offer", e.message) : answerFailed(e),
    answerFailed,
    noTrickle: () => error(405, "trickle ICE and ICE restart are not supported; send a new offer", undefined, { allow: "DELETE" }),
  };
}

/** The dataflow id in a WHIP/WHEP path: a positive safe integer without leading zeros, else undefined. */
export function parseResourceId(text: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}
