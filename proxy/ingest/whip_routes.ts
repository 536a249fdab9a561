/**
 * WHIP endpoints (RFC 9725) as hono routes:
 *
 *   POST   /whip/{id}            SDP offer → 201 + answer + Location   (§4.2)
 *   DELETE /whip/{id}/{session}  ends the session                      (§4.3)
 *   PATCH  /whip/{id}/{session}  405: no trickle ICE / ICE restart     (§4.3.1)
 *   OPTIONS both                 CORS preflight, Accept-Post            (§4.2)
 *
 * Authorization is the dataflow's ingest token as a bearer token (§4.5). Errors are JSON
 * `{error, details}` like the rest of the API; answers are `application/sdp`.
 *
 * With `ownership` (several proxies on one store, proxy/ingest/session_ownership.ts) a POST
 * first claims the dataflow's session row: 409 naming the owner while another replica's session
 * is alive; `Location` is absolute, on this replica's public URL; DELETE/PATCH of a session a
 * live replica elsewhere owns answer 307 to it.
 */
import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { PATH, ROUTE, SDP_CONTENT_TYPE } from "../../shared/mod.ts";
import { HttpError } from "../api/http_error.ts";
import { OfferLimit } from "../webrtc/offer_limit.ts";
import { sdpPreflight } from "../webrtc/sdp_preflight.ts";
import { chooseH264, OfferError } from "../webrtc/h264_offer.ts";
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

function parseId(text: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

/**
 * CORS (Fetch standard) so a browser page on another origin can be a WHIP client: the bearer
 * token, not cookies, authorizes, so any origin may call; `Location` must be readable.
 */
const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "location",
};

function error(status: number, message: string, details?: unknown): Response {
  const body = details === undefined ? { error: message } : { error: message, details };
  const headers: Record<string, string> = { ...CORS, "content-type": "application/json" };
  if (status === 401) headers["www-authenticate"] = 'Bearer realm="whip"';
  return new Response(JSON.stringify(body), { status, headers });
}

async function authorize(deps: WhipDeps, idText: string, header: string | undefined): Promise<number | Response> {
  const id = parseId(idText);
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
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== SDP_CONTENT_TYPE) return error(415, `content type must be "${SDP_CONTENT_TYPE}", got "${type}"`);
    const offer = await offers.read(c.req.raw);
    if (offer instanceof HttpError) return error(offer.status, offer.message);
    let choice;
    try {
      choice = chooseH264(offer, { singleNalMode: true });
    } catch (e) {
      if (e instanceof OfferError) return error(e.status, "unusable SDP offer", e.message);
      return error(400, "could not answer the SDP offer", e instanceof Error ? e.message : String(e));
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
      return error(400, "could not answer the SDP offer", e instanceof Error ? e.message : String(e));
    }
    if (claim) await ownership!.settle(id, sessionId, claim, true);
    const location = `${ownership?.publicUrl ?? ""}${sessionPath(id, opened.sessionId)}`;
    return new Response(opened.answer, { status: 201, headers: { ...CORS, "content-type": SDP_CONTENT_TYPE, location } });
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
    const id = parseId(c.req.param("id"));
    const session = c.req.param("session");
    if (id !== undefined && deps.registry.get(id)?.sessionId !== session) {
      const redirect = await redirectToOwner(deps, id, session);
      if (redirect) return redirect;
    }
    return new Response(JSON.stringify({ error: "trickle ICE and ICE restart are not supported; send a new offer" }), {
      status: 405,
      headers: { ...CORS, "content-type": "application/json", allow: "DELETE" },
    });
  });

  return app;
}
