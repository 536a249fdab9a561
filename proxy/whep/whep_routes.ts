/**
 * WHEP endpoints (draft-ietf-wish-whep, modelled on WHIP, RFC 9725) as hono routes:
 *
 *   POST    /whep/{id}            SDP offer (recvonly) → 201 + answer + Location
 *   DELETE  /whep/{id}/{viewer}   ends the viewer
 *   PATCH   /whep/{id}/{viewer}   405: no trickle ICE / ICE restart
 *   OPTIONS both                  CORS preflight, Accept-Post
 *
 * Errors: 401 without a valid API token (when auth is set), 403 for a sensor token, 404 for an unknown or ended
 * dataflow, 503 + Retry-After while the dataflow is registered or idle but not live (a
 * demand lease is placed so an on-demand sensor starts; the player retries), 400/406 for an
 * unusable offer, 415 for a wrong content type, 503 without Retry-After when the proxy
 * (`--max-whep-viewers`) or the dataflow (`--max-whep-viewers-per-dataflow`) serves its maximum
 * of viewers, counted with those being negotiated, 503 + Retry-After 5 when the store a remote
 * dataflow's state is read from is unavailable. Bodies are JSON `{error, details}` like the
 * rest of the API, with CORS headers so a player on another origin can read them.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { PATH, ROUTE, SDP_CONTENT_TYPE } from "../../shared/mod.ts";
import { HttpError } from "../api/http_error.ts";
import { NotFoundError, StoreUnavailableError } from "../registry/errors.ts";
import { OfferLimit } from "../webrtc/offer_limit.ts";
import { sdpPreflight } from "../webrtc/sdp_preflight.ts";
import { TooManyViewersError } from "./viewer_caps.ts";
import { NotLiveError, type WhepPlayback } from "./whep_playback.ts";
import { OfferError } from "./whep_offer.ts";

/** Seconds a player should wait before retrying a dataflow that is not live yet. */
export const NOT_LIVE_RETRY_SECONDS = 2;


/** What the WHEP routes need. */
export interface WhepRouteDeps {
  playback: WhepPlayback;
  /** Authenticates and checks the role (lets everything through when no auth is configured). */
  requireRoles: MiddlewareHandler;
  /** Reads offers within `--max-sdp-bytes` (413 beyond). Default: 64 KiB. */
  offers?: OfferLimit;
}

const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "location, retry-after",
};

function error(status: number, message: string, details?: unknown, extra: Record<string, string> = {}): Response {
  const body = details === undefined ? { error: message } : { error: message, details };
  const headers: Record<string, string> = { ...CORS, "content-type": "application/json", ...extra };
  if (status === 401) headers["www-authenticate"] = 'Bearer realm="vsb-proxy"';
  return new Response(JSON.stringify(body), { status, headers });
}

function parseId(text: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

/** Location of a viewer: the WHEP endpoint plus the viewer id. */
export function viewerPath(dataflowId: number, viewerId: string): string {
  return `${PATH.whep(dataflowId)}/${encodeURIComponent(viewerId)}`;
}

/** Runs the token and role middleware; its HttpError becomes a CORS-readable answer. */
function authorized(deps: WhepRouteDeps, handler: (c: Parameters<MiddlewareHandler>[0]) => Promise<Response>): MiddlewareHandler {
  return async (c) => {
    let allowed = false;
    try {
      await deps.requireRoles(c, async () => {
        allowed = true;
      });
    } catch (e) {
      if (e instanceof HttpError) return error(e.status, e.message);
      throw e;
    }
    return allowed ? handler(c) : error(401, "API token is not valid");
  };
}

async function post(deps: WhepRouteDeps, offers: OfferLimit, idText: string, req: Request): Promise<Response> {
  const id = parseId(idText);
  if (id === undefined) return error(404, `unknown dataflow "${idText}"`);
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== SDP_CONTENT_TYPE) return error(415, `content type must be "${SDP_CONTENT_TYPE}", got "${type}"`);
  const offer = await offers.read(req);
  if (offer instanceof HttpError) return error(offer.status, offer.message);
  try {
    const opened = await deps.playback.open(id, offer);
    return new Response(opened.answer, {
      status: 201,
      headers: { ...CORS, "content-type": SDP_CONTENT_TYPE, location: viewerPath(id, opened.viewerId) },
    });
  } catch (e) {
    if (e instanceof NotFoundError) return error(404, e.message);
    if (e instanceof NotLiveError) return error(503, e.message, { state: e.state }, { "retry-after": String(NOT_LIVE_RETRY_SECONDS) });
    // A dataflow ingested on another replica is looked up in the shared store, which may be down.
    if (e instanceof StoreUnavailableError) return error(503, e.message, undefined, { "retry-after": "5" });
    if (e instanceof TooManyViewersError) return error(503, e.message, { reason: e.reason, limit: e.limit });
    if (e instanceof OfferError) return error(e.status, "unusable SDP offer", e.message);
    return error(400, "could not answer the SDP offer", e instanceof Error ? e.message : String(e));
  }
}

/** The WHEP routes, to mount on the proxy's hono app. */
export function whepRoutes(deps: WhepRouteDeps): Hono {
  const app = new Hono();
  const offers = deps.offers ?? new OfferLimit();

  app.post(ROUTE.whep, authorized(deps, (c) => post(deps, offers, c.req.param("id")!, c.req.raw)));

  app.delete(ROUTE.whepSession, authorized(deps, async (c) => {
    const id = parseId(c.req.param("id")!);
    const viewer = c.req.param("session")!;
    if (id === undefined || !deps.playback.end(id, viewer, "delete")) {
      return error(404, `no WHEP viewer "${viewer}" for dataflow "${c.req.param("id")}"`);
    }
    return new Response(null, { status: 200, headers: CORS });
  }));

  app.options(ROUTE.whep, sdpPreflight(CORS, "POST, OPTIONS"));
  app.options(ROUTE.whepSession, sdpPreflight(CORS, "DELETE, PATCH, OPTIONS"));

  app.patch(ROUTE.whepSession, () =>
    error(405, "trickle ICE and ICE restart are not supported; send a new offer", undefined, { allow: "DELETE" }));

  return app;
}
