/** The discovery service's routes (`--discovery`) in `/openapi.json`. */
import { z } from "zod";
import { MecCreationSchema, ROUTE } from "../../shared/mod.ts";

type Json = Record<string, unknown>;

const oa = (route: string) => route.replace(/:(\w+)/g, "{$1}");
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, content: { "application/json": { schema: ref("Error") } } });
const jsonAnswer = (description: string, schema: Json) => ({ description, content: { "application/json": { schema } } });
const mecIdParam = { name: "mecId", in: "path", required: true, description: "the MEC's id at the discovery service", schema: { type: "integer", minimum: 1 } };
const tileParam = { name: "tile", in: "path", required: true, schema: { type: "string", pattern: "^[0-3]{1,31}$" } };
const mecs = { type: "array", items: { type: "object", description: "5GMETA MECInstance: id, mec_id (its name), name, sb_services, geolocation [{tile-id, zoom-level}], lat, lng, organization, resources, props" } };
const message = { type: "object", properties: { mec_id: { type: "string" }, message: { type: "string" }, tile: { type: "string" } } };

/** The MECCreation schema (`POST /mec`), for components.schemas. */
export function mecCreationSchema(): Json {
  const out = z.toJSONSchema(MecCreationSchema, { io: "input", unrepresentable: "any" }) as Json;
  delete out.$schema;
  return out;
}

/** Paths of the discovery service; `bad`, `auth` are the document's shared error answers. */
export function discoveryPaths(bad: Json, auth: Json): Json {
  const missing = error("no such MEC (or it does not serve the tile)");
  const only = " (--discovery only)";
  return {
    [oa(ROUTE.mecs)]: {
      post: { summary: `Register a MEC with its services and tiles (5GMETA MECCreation); the same name again updates it${only}`,
        requestBody: { required: true, content: { "application/json": { schema: ref("MecCreation") } } },
        responses: { 200: jsonAnswer("its id, as a string", { type: "object", properties: { mec_id: { type: "string" } } }), 400: bad, 401: auth } },
      get: { summary: `Every registered MEC${only}`, responses: { 200: jsonAnswer("MECs", mecs), 401: auth } },
    },
    [oa(ROUTE.mec)]: {
      parameters: [mecIdParam],
      get: { summary: `One MEC, as a list of one${only}`, responses: { 200: jsonAnswer("the MEC", mecs), 400: bad, 401: auth, 404: missing } },
      delete: { summary: `Deregister a MEC and its tiles${only}`, responses: { 200: jsonAnswer("deleted", message), 400: bad, 401: auth, 404: missing } },
    },
    [oa(ROUTE.mecServedTile)]: {
      parameters: [mecIdParam, tileParam],
      post: { summary: `Add a tile to a MEC (idempotent)${only}`, responses: { 200: jsonAnswer("added, or already served", message), 400: bad, 401: auth, 404: missing } },
      delete: { summary: `Remove a tile from a MEC${only}`, responses: { 200: jsonAnswer("deleted", message), 400: bad, 401: auth, 404: missing } },
    },
  };
}
