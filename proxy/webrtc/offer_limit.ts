/**
 * The size bound of WHIP and WHEP SDP offers (`--max-sdp-bytes`): the body is read through
 * proxy/api/read_body.ts's `readLimited`, so an oversize offer is refused (413) from its
 * Content-Length before it is read, or as soon as the bytes pass the bound when it is sent
 * chunked or with a Content-Length that lies; refusals are counted for the metrics.
 */
import { HttpError } from "../api/http_error.ts";
import { readLimited } from "../api/read_body.ts";

/** Default of `--max-sdp-bytes`: a browser's offer is 3–10 KiB. */
export const MAX_SDP_BYTES = 64 * 1024;

const decoder = new TextDecoder();

/** Reads offers of at most `bytes` bytes and counts those refused. */
export class OfferLimit {
  /** Offers refused with 413. */
  tooLarge = 0;

  constructor(readonly bytes: number = MAX_SDP_BYTES) {}

  /** The offer of `req` as text, or the 413 HttpError to answer (counted). */
  async read(req: Request): Promise<string | HttpError> {
    try {
      return decoder.decode(await readLimited(req, this.bytes));
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 413) throw e;
      this.tooLarge++;
      return new HttpError(413, `SDP offer is over the limit of ${this.bytes} bytes (--max-sdp-bytes)`);
    }
  }
}
