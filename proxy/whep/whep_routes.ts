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
import { PATH, ROUTE } from "../../shared/mod.ts";
import { HttpError } from "../api/http_error.ts";
import { NotFoundError, StoreUnavailableError } from "../registry/errors.ts";
import { OfferLimit } from "../webrtc/offer_limit.ts";
import { sdpPreflight } from "../webrtc/sdp_preflight.ts";
import { parseResourceId, sdpResponses } from "../webrtc/sdp_response.ts";
import { TooManyViewersError } from "./viewer_caps.ts";
import { NotLiveError, type WhepPlayback } from "./whep_playback.ts";

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

const respond = sdpResponses({ cors: CORS, realm: "vsb-proxy" });
const error = respond.error;

/** Location of a viewer: the WHEP endpoint plus the viewer id. */
export function viewerPath(dataflowId: number, viewerId: string): string {
  return `${PATH.whep(dataflowId)}/${encodeURIComponent(viewerId)}`;
}

/** Runs the token and role middleware; its HttpError becomes a CORS-readable answer. */
function authorized(deps: WhepRouteDeps, handler: (c: Parameters<MiddlewareHandler>[0]) => Response | Promise<Response>): MiddlewareHandler {
  return async (c) => {
    let allowed = false;
    try {
      await deps.requireRoles(c, () => {
        allowed = true;
        return Promise.resolve();
      });
    } catch (e) {
      if (e instanceof HttpError) return error(e.status, e.message);
      throw e;
    }
    return allowed ? handler(c) : error(401, "API token is not valid");
  };
}

async function post(deps: WhepRouteDeps, offers: OfferLimit, idText: string, req: Request): Promise<Response> {
  const id = parseResourceId(idText);
  if (id === undefined) return error(404, `unknown dataflow "${idText}"`);
  const offer = await respond.readOffer(offers, req);
  if (offer instanceof Response) return offer;
  try {
    const opened = await deps.playback.open(id, offer);
    return respond.answer(opened.answer, viewerPath(id, opened.viewerId));
  } catch (e) {
    if (e instanceof NotFoundError) return error(404, e.message);
    if (e instanceof NotLiveError) return error(503, e.message, { state: e.state }, { "retry-after": String(NOT_LIVE_RETRY_SECONDS) });
    // A dataflow ingested on another replica is looked up in the shared store, which may be down.
    if (e instanceof StoreUnavailableError) return error(503, e.message, undefined, { "retry-after": "5" });
    if (e instanceof TooManyViewersError) return error(503, e.message, { reason: e.reason, limit: e.limit });
    return respond.offerFailed(e);
  }
}

/** The WHEP routes, to mount on the proxy's hono app. */
export function whepRoutes(deps: WhepRouteDeps): Hono {
  const app = new Hono();
  const offers = deps.offers ?? new OfferLimit();

  app.post(ROUTE.whep, authorized(deps, (c) => post(deps, offers, c.req.param("id")!, c.req.raw)));

  app.delete(ROUTE.whepSession, authorized(deps, (c) => {
    const id = parseResourceId(c.req.param("id")!);
    const viewer = c.req.param("session")!;
    if (id === undefined || !deps.playback.end(id, viewer, "delete")) {
      return error(404, `no WHEP viewer "${viewer}" for dataflow "${c.req.param("id")}"`);
    }
    return new Response(null, { status: 200, headers: CORS });
  }));

  app.options(ROUTE.whep, sdpPreflight(CORS, "POST, OPTIONS"));
  app.options(ROUTE.whepSession, sdpPreflight(CORS, "DELETE, PATCH, OPTIONS"));

  app.patch(ROUTE.whepSession, () => respond.noTrickle());

  return app;
}
