/**
 * The HTTP half of WHIP (RFC 9725): POST an offer, get the answer and the session URL
 * (§4.2), DELETE that URL to end the session (§4.3). Web `fetch` only.
 */
import { SDP_CONTENT_TYPE } from "../../shared/mod.ts";

/** A WHIP request got an HTTP error; `status` 409 means the MEC still holds an old session. */
export class WhipHttpError extends Error {
  constructor(readonly status: number, readonly url: string, readonly body: string) {
    super(`WHIP ${status} from "${url}": ${body.slice(0, 200)}`);
    this.name = "WhipHttpError";
  }
}

/** An answered offer. */
export interface WhipAnswer {
  answer: string;
  /** Absolute session URL from `Location` (§4.2: may be relative to the endpoint). */
  location: string;
}

/** Options shared by the requests. */
export interface WhipRequestOptions {
  /** Abort after this long. Default 10000 ms. */
  timeoutMs?: number;
  /** `fetch` to use (tests). Default the global one. */
  fetch?: typeof fetch;
}

function headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/** POSTs `offer` to the WHIP endpoint `url`; throws {@link WhipHttpError} on a non-201. */
export async function postOffer(url: string, token: string | undefined, offer: string, options: WhipRequestOptions = {}): Promise<WhipAnswer> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(url, {
    method: "POST",
    headers: headers(token, { "content-type": SDP_CONTENT_TYPE }),
    body: offer,
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const body = await response.text();
  if (response.status !== 201) throw new WhipHttpError(response.status, url, body);
  const location = response.headers.get("location");
  if (!location) throw new WhipHttpError(response.status, url, "201 without a Location header");
  return { answer: body, location: new URL(location, url).toString() };
}

/** DELETEs the session at `location` (§4.3). A 404 means it is already gone: not an error. */
export async function deleteSession(location: string, token: string | undefined, options: WhipRequestOptions = {}): Promise<number> {
  const doFetch = options.fetch ?? fetch;
  const response = await doFetch(location, {
    method: "DELETE",
    headers: headers(token),
    signal: AbortSignal.timeout(options.timeoutMs ?? 2_000),
  });
  await response.body?.cancel();
  if (!response.ok && response.status !== 404) {
    throw new WhipHttpError(response.status, location, "DELETE refused");
  }
  return response.status;
}
