/**
 * WHIP endpoints (RFC 9725) as hono routes:
 *
 *   POST   /whip/{id}            SDP offer → 201 + answer + Location   (§4.2)
 *   DELETE /whip/{id}/{session}  ends the session                      (§4.3)
 *   PATCH  /whip/{id}/{session}  405: no trickle ICE / ICE restart     (§4.3.1)
 *   OPTIONS both                 CORS preflight, Accept-Post            (§4.2)
 *
 * Authorization is the dataflow's ingest token as a bearer token (§4.5). Errors are JSON
 * `{error, details}` like the rest of the API; answers are `application/sdp` (both as WHEP
 * answers them: proxy/webrtc/sdp_response.ts).
 *
 * With `ownership` (several proxies on one store, proxy/ingest/session_ownership.ts) a POST
 * first claims the dataflow's session row: 409 naming the owner while another replica's session
 * is alive; `Location` is absolute, on this replica's public URL; DELETE/PATCH of a session a
 * live replica elsewhere owns answer 307 to it.
 */
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { OfferLimit } from "../webrtc/offer_limit.ts";
import { sdpPreflight } from "../webrtc/sdp_preflight.ts";
import { parseResourceId, sdpResponses } from "../webrtc/sdp_response.ts";
import { chooseH264 } from "../webrtc/h264_offer.ts";
import type { SessionOwnership } from "./session_ownership.ts";
import { SessionConflictError, type SessionRegistry } from "./session_registry.ts";

/** What the token check says about one request. */
export type IngestAuth = "ok" | "unauthorized" | "not-found";

/** What the WHIP routes need from the rest of the proxy. */
export interface WhipDeps {
  /** Checks `token` (undefined when absent) against dataflow `dataflowId`'s ingest token. */
  authenticate(dataflowId: number, token: string | undefined): IngestAuth | Promise<IngestAuth>;
  registry: SessionRegistry;
  /** Reads offers within `--max-sdp-bytes` (413 beyond). Default: 64 KiB. */
  offers?: OfferLimit;
  /** Session ownership across replicas. Default none: one process, relative `Location`. */
  ownership?: SessionOwnership;
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

/**
 * CORS (Fetch standard) so a browser page on another origin can be a WHIP client: the bearer
 * token, not cookies, authorizes, so any origin may call; `Location` must be readable.
 */
const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "location",
};

const respond = sdpResponses({ cors: CORS, realm: "whip" });
const error = respond.error;

async function authorize(deps: WhipDeps, idText: string, header: string | undefined): Promise<number | Response> {
  const id = parseResourceId(idText);
  if (id === undefined) return error(404, `unknown dataflow "${idText}"`);
  const verdict = await deps.authenticate(id, bearer(header));
  if (verdict === "not-found") return error(404, `unknown dataflow "${id}"`);
  if (verdict !== "ok") return error(401, `missing or wrong ingest token for dataflow "${id}"`);
  return id;
}

/** Location of a session: the WHIP endpoint plus the session id. */
export function sessionPath(dataflowId: number, sessionId: string): string {
  return `${PATH.whip(dataflowId)}/${encodeURIComponent(sessionId)}`;
}

/** 307 to the replica that owns session `session` of dataflow `id`, when another live one does (method and body kept). */
async function redirectToOwner(deps: WhipDeps, id: number, session: string): Promise<Response | undefined> {
  const owner = await deps.ownership?.redirectFor(id, session).catch(() => undefined);
  if (!owner) return undefined;
  return new Response(null, { status: 307, headers: { ...CORS, location: `${owner}${sessionPath(id, session)}` } });
}

/** The WHIP routes, to mount on the proxy's hono app. */
export function whipRoutes(deps: WhipDeps): Hono {
  const app = new Hono();
  const offers = deps.offers ?? new OfferLimit();

  app.post(ROUTE.whip, async (c) => {
    const id = await authorize(deps, c.req.param("id"), c.req.header("authorization"));
    if (id instanceof Response) return id;
    const offer = await respond.readOffer(offers, c.req.raw);
    if (offer instanceof Response) return offer;
    let choice;
    try {
      choice = chooseH264(offer, { singleNalMode: true, transportCc: true });
    } catch (e) {
      return respond.offerFailed(e);
    }
    const local = deps.registry.conflictOf(id);
    if (local) {
      deps.registry.conflicts++;
      return error(409, local.message);
    }
    const sessionId = randomUUID();
    const { ownership } = deps;
    let claim;
    try {
      claim = ownership ? await ownership.claim(id, sessionId) : undefined;
    } catch (e) {
      return error(503, `could not claim the WHIP session of dataflow ${id} in the store`, e instanceof Error ? e.message : String(e));
    }
    if (claim && !claim.won) {
      return error(409, `dataflow ${id} is live on replica "${claim.owner.public_url}": its WHIP session is owned there`, { owner: claim.owner.public_url });
    }
    let opened: { sessionId: string; answer: string };
    try {
      opened = await deps.registry.open(id, choice, sessionId);
    } catch (e) {
      if (claim) await ownership!.settle(id, sessionId, claim, false);
      if (e instanceof SessionConflictError) return error(409, e.message);
      return respond.answerFailed(e);
    }
    if (claim) await ownership!.settle(id, sessionId, claim, true);
    const location = `${ownership?.publicUrl ?? ""}${sessionPath(id, opened.sessionId)}`;
    return respond.answer(opened.answer, location);
  });

  app.delete(ROUTE.whipSession, async (c) => {
    const id = await authorize(deps, c.req.param("id"), c.req.header("authorization"));
    if (id instanceof Response) return id;
    const session = c.req.param("session");
    if (deps.registry.end(id, "delete", session)) return new Response(null, { status: 200, headers: CORS });
    return await redirectToOwner(deps, id, session) ?? error(404, `no WHIP session "${session}" for dataflow ${id}`);
  });

  app.options(ROUTE.whip, sdpPreflight(CORS, "POST, OPTIONS"));
  app.options(ROUTE.whipSession, sdpPreflight(CORS, "DELETE, PATCH, OPTIONS"));

  app.patch(ROUTE.whipSession, async (c) => {
    const id = parseResourceId(c.req.param("id"));
    const session = c.req.param("session");
    if (id !== undefined && deps.registry.get(id)?.sessionId !== session) {
      const redirect = await redirectToOwner(deps, id, session);
      if (redirect) return redirect;
    }
    return respond.noTrickle();
  });

  return app;
}
