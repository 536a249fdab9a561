/**
 * The 5GMETA Discovery API for many MECs (`--discovery`), on the store's `mecs`/`mec_tiles`
 * tables. Shapes, messages and status codes follow 5GMETA's discovery service
 * (github.com/5gmeta/discovery, southbound_services_controller.py and tests/reference/*.json);
 * shared/mec_registration.ts lists them and where vsb differs. Errors are vsb's one-line
 * `{error, details}` with a 4xx code (5GMETA answers some of them 200 or 401).
 *
 * Access: reading is the discovery read of every role (as `GET /mec/tile/:quadkey` of a single
 * MEC); writing is the operator's — a MEC registers itself with an operator token.
 */
import type { Context } from "hono";
import {
  MEC_SERVICE_URL_QUERY, type MecCreated, MecCreationSchema, type MecInstance, PATH, QuadkeySchema, ROUTE, TileSchema,
} from "../../shared/mod.ts";
import { DISCOVERY_ACCESS } from "../api/access_policy.ts";
import type { App, RouteModule } from "../api/create_app.ts";
import { HttpError } from "../api/http_error.ts";
import { parseWith, readJson } from "../api/read_body.ts";
import { identityOf } from "../api/roles.ts";
import type { Series } from "../metrics.ts";
import type { MecRecord, MecStore } from "./mec_store.ts";
import { liveServices } from "./replica_services.ts";
import { rankMecs } from "./tile_match.ts";

/**
 * A MEC as the API answers it at `now` (5GMETA `MECInstance`, plus vsb's `mec_id`: the MEC's
 * name); service entries of replicas that lapsed are left out.
 */
export function mecInstance(m: MecRecord, now = Date.now()): MecInstance {
  return {
    id: m.id, mec_id: m.name, name: m.name, ...m.info, sb_services: liveServices(m.services, now),
    geolocation: m.tiles.map((tile) => ({ "tile-id": tile, "zoom-level": tile.length })),
    ...(m.expiresAt === null ? {} : { expiresAt: m.expiresAt }),
  };
}

function mecIdOf(c: Context): number {
  const raw = c.req.param("mecId") ?? "";
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < 1) throw new HttpError(400, `MEC id "${raw}" must be a whole number from 1`);
  return Number(raw);
}

const tileOf = (c: Context) => parseWith(TileSchema, c.req.param("tile"), "tile");

/** Options of {@link discoveryRoutes}. */
export interface DiscoveryRoutesOptions {
  /** Lookups by result (`found`, `none`), e.g. the `vsb_discovery_lookups_total` series. */
  lookups?: Series;
  /** MECs left out of lookups because their registration lapsed, e.g. `vsb_discovery_lapsed_skipped_total`. */
  lapsed?: Series;
  now?: () => number;
}

/** The discovery service as a route module of the proxy's app. */
export function discoveryRoutes(store: MecStore, options: DiscoveryRoutesOptions = {}): RouteModule {
  const now = options.now ?? Date.now;
  return {
    access: DISCOVERY_ACCESS,
    mount(app: App) {
      app.get(ROUTE.mecTile, async (c) => {
        const quadkey = parseWith(QuadkeySchema, c.req.param("quadkey"), "quadkey");
        const ranked = rankMecs(quadkey, await store.tileMatches(quadkey));
        const at = now();
        const found = await store.mecs(ranked);
        // A MEC registered with ttlSeconds that did not register again is no longer named.
        const live = found.filter((m) => m.expiresAt === null || m.expiresAt > at);
        if (live.length < found.length) options.lapsed?.inc(undefined, found.length - live.length);
        const byId = new Map(live.map((m) => [m.id, m]));
        const answer = ranked.flatMap((id) => (byId.has(id) ? [mecInstance(byId.get(id)!, at)] : []));
        options.lookups?.inc({ result: answer.length > 0 ? "found" : "none" });
        // 5GMETA answers an empty list (not 404) when no MEC serves the tile; so do we.
        return c.json(answer);
      });

      app.get(ROUTE.mecs, async (c) => c.json((await store.mecs()).map((m) => mecInstance(m, now()))));

      app.get(ROUTE.mec, async (c) => {
        const id = mecIdOf(c);
        const [mec] = await store.mecs([id]);
        if (!mec) throw new HttpError(404, `MEC "${id}" does not exist`);
        return c.json([mecInstance(mec, now())]);
      });

      app.post(ROUTE.mecs, async (c) => {
        const body = parseWith(MecCreationSchema, await readJson(c.req.raw), "MEC");
        const { name, sb_services, geolocation, ttlSeconds, ...info } = body;
        const tiles = geolocation ? [...new Set(geolocation.map((g) => g["tile-id"]))] : undefined;
        const at = now();
        const expiresAt = ttlSeconds === undefined ? null : at + ttlSeconds * 1000;
        const { id, created } = await store.upsertMec({ name, info, services: sb_services, tiles, owner: identityOf(c).name, now: at, expiresAt,
          // With a ttl (every replica's registrar sends one) each replica's entries sit beside the others'.
          mergeServices: ttlSeconds !== undefined,
        });
        const answer: MecCreated = { mec_id: String(id) };
        return c.json(answer, 200, created ? { Location: PATH.mec(id) } : {});
      });

      app.delete(ROUTE.mec, async (c) => {
        const id = mecIdOf(c);
        const replica = c.req.query(MEC_SERVICE_URL_QUERY);
        if (replica !== undefined) {
          const result = await store.deleteServicesAt(id, replica);
          if (result === "no-mec") throw new HttpError(404, `MEC "${id}" does not exist`);
          return c.json({ mec_id: String(id), message: result === "deleted" ? "MEC deleted" : "Services deleted" });
        }
        if (!await store.deleteMec(id)) throw new HttpError(404, `MEC "${id}" does not exist`);
        return c.json({ mec_id: String(id), message: "MEC deleted" });
      });

      app.post(ROUTE.mecServedTile, async (c) => {
        const id = mecIdOf(c);
        const tile = tileOf(c);
        const result = await store.addTile(id, tile);
        if (result === "no-mec") throw new HttpError(404, `MEC "${id}" does not exist`);
        return c.json({ mec_id: String(id), message: result === "added" ? "Added" : "Already served by this MEC", tile });
      });

      app.delete(ROUTE.mecServedTile, async (c) => {
        const id = mecIdOf(c);
        const tile = tileOf(c);
        const result = await store.deleteTile(id, tile);
        if (result === "no-mec") throw new HttpError(404, `MEC "${id}" does not exist`);
        if (result === "absent") throw new HttpError(404, `tile "${tile}" is not served by MEC "${id}"`);
        return c.json({ mec_id: String(id), message: "Tile deleted", tile });
      });
    },
  };
}
