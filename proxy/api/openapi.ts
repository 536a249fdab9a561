/**
 * `/openapi.json` (OpenAPI 3.1), generated from the shared zod schemas so that the
 * document cannot disagree with what the API validates. Request bodies use the schemas'
 * input side (what a client may send, before transforms), answers their output side.
 */
import { z } from "zod";
import {
  DataflowMetadataSchema, DataflowQuerySchema, DataflowRecordSchema, DemandLeaseSchema,
  DemandRenewSchema, DemandRequestSchema, DiscoverySchema, ErrorBodySchema, KeepaliveSchema, RegistrationSchema, ROUTE,
} from "../../shared/mod.ts";
import { discoveryPaths, mecCreationSchema } from "./discovery_openapi.ts";
import { accessKey, CORE_ACCESS, DEFAULT_ACCESS, DISCOVERY_ACCESS, WHEP_ACCESS } from "./access_policy.ts";

type Json = Record<string, unknown>;

/** hono's `/a/:id` as an OpenAPI path template `/a/{id}`. */
const oa = (route: string) => route.replace(/:(\w+)/g, "{$1}");

function schema(s: z.ZodType, io: "input" | "output"): Json {
  const out = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Json;
  delete out.$schema;
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ content: { "application/json": { schema: ref(name) } } });
const error = (description: string) => ({ description, ...json("Error") });

const idParam = (what: string, type: Json) => ({ name: "id", in: "path", required: true, description: what, schema: type });
const dataflowIdParam = idParam("dataflow id", { type: "integer", minimum: 1 });
const demandIdParam = idParam("demand lease id", { type: "string", format: "uuid" });

function queryParams(): Json[] {
  const props = (schema(DataflowQuerySchema, "input").properties ?? {}) as Record<string, Json>;
  return Object.entries(props).map(([name, s]) => ({ name, in: "query", required: false, schema: s }));
}

const sdp = (description: string) => ({ description, content: { "application/sdp": { schema: { type: "string" } } } });
const sessionParam = { name: "session", in: "path", required: true, description: "session id from Location", schema: { type: "string" } };

/** WHIP ingest (RFC 9725) and WHEP playback: SDP offer in, SDP answer and Location out. */
function mediaPaths(dataflowId: Json, auth: Json, missing: Json): Json {
  const ingestAuth = error("missing ingest token, or not this dataflow's");
  const badOffer = error("malformed SDP offer, or one without H.264 packetization-mode 1 (406)");
  const offer = { required: true, content: { "application/sdp": { schema: { type: "string" } } } };
  const location = { Location: { description: "the session URL, for DELETE (absolute, on the replica that owns the session)", schema: { type: "string" } } };
  return {
    [oa(ROUTE.whip)]: {
      parameters: [dataflowId],
      post: { summary: "WHIP: push H.264 for a dataflow (Bearer = the ingest token from registration)", security: [{ ingest: [] }], requestBody: offer,
        responses: { 201: { ...sdp("answer (ICE-lite, candidates included)"), headers: location }, 400: badOffer, 401: ingestAuth, 404: missing,
          406: error("no H.264 packetization-mode 1 or 0 in the offer"), 409: error("the dataflow is live from another session (on another replica: its public URL is in the message)"), 503: error("the session could not be claimed in the store"), 413: error("offer over --max-sdp-bytes"), 415: error("not application/sdp") } },
    },
    [oa(ROUTE.whipSession)]: {
      parameters: [dataflowId, sessionParam],
      delete: { summary: "WHIP: end the push (publishes terminatedataflow unless the sensor did)", security: [{ ingest: [] }],
        responses: { 200: { description: "ended" }, 307: { description: "the session is owned by another replica: Location is its URL there" }, 401: ingestAuth, 404: missing } },
    },
    [oa(ROUTE.whep)]: {
      parameters: [dataflowId],
      post: { summary: "WHEP: watch a live dataflow (holds a demand lease while connected)", requestBody: offer,
        responses: { 201: { ...sdp("answer"), headers: location }, 400: badOffer, 401: auth, 404: missing,
          413: error("offer over --max-sdp-bytes"), 415: error("not application/sdp"),
          503: error("not live yet (Retry-After), or --max-whep-viewers / --max-whep-viewers-per-dataflow is reached") } },
    },
    [oa(ROUTE.whepSession)]: {
      parameters: [dataflowId, sessionParam],
      delete: { summary: "WHEP: stop watching", responses: { 200: { description: "ended" }, 401: auth, 404: missing } },
    },
  };
}

function paths(): Json {
  const bad = error("invalid input (details lists each zod issue with its path)");
  const auth = error("missing or wrong API token");
  const missing = error("unknown or ended id");
  const store = error("the registration store could not be written (disk full, I/O error); nothing changed (Retry-After)");
  return {
    [oa(ROUTE.dataflows)]: {
      post: { summary: "Register a dataflow (5GMETA body accepted)", requestBody: { required: true, ...json("DataflowMetadata") },
        responses: { 201: { description: "registered; `control.key` signs its control messages and is shown only here (README, Security)", ...json("Registration") }, 400: bad, 401: auth,
          429: error("this sensor already holds --max-dataflows-per-sensor active dataflows"),
          413: error("body over 64 KiB"), 415: error("not application/json"), 503: error("no UDP forward port left, or the registration store could not be written (Retry-After)") } },
      get: { summary: "List dataflows", parameters: queryParams(),
        responses: { 200: { description: "dataflows, newest `limit` in id order; a full page has Link rel=\"next\" (before = its lowest id)", content: { "application/json": { schema: { type: "array", items: ref("DataflowRecord") } } } }, 400: bad, 401: auth } },
    },
    [oa(ROUTE.dataflow)]: {
      parameters: [dataflowIdParam],
      get: { summary: "One dataflow", responses: { 200: { description: "the dataflow", ...json("DataflowRecord") }, 404: missing, 401: auth } },
      put: { summary: "Keep-alive, optionally with updated metadata", requestBody: { required: false, ...json("DataflowMetadata") },
        responses: { 200: { description: "alive; send says whether to stream", ...json("Keepalive") }, 400: bad, 401: auth, 404: missing,
          503: error("the metadata turned the UDP forward on and no port is left, or the registration store could not be written (Retry-After)") } },
      delete: { summary: "End a dataflow (publishes terminatedataflow)", responses: { 204: { description: "ended" }, 401: auth, 404: missing, 503: store } },
    },
    [oa(ROUTE.demands)]: {
      post: { summary: "Lease demand for dataflows (by id, quadkey prefix, data type)", requestBody: { required: true, ...json("DemandRequest") },
        responses: { 201: { description: "lease", ...json("DemandLease") }, 400: bad, 401: auth, 404: missing,
          429: error("this client holds --max-leases-per-client leases, or the proxy --max-leases") } },
      get: { summary: "Live leases", responses: { 200: { description: "leases", content: { "application/json": { schema: { type: "array", items: ref("DemandLease") } } } }, 401: auth } },
    },
    [oa(ROUTE.demand)]: {
      parameters: [demandIdParam],
      get: { summary: "One lease", responses: { 200: { description: "lease", ...json("DemandLease") }, 401: auth, 404: missing } },
      put: { summary: "Renew a lease", requestBody: { required: false, ...json("DemandRenew") },
        responses: { 200: { description: "renewed", ...json("DemandLease") }, 400: bad, 401: auth, 404: missing } },
      delete: { summary: "End a lease", responses: { 204: { description: "ended" }, 401: auth, 404: missing } },
    },
    [oa(ROUTE.mecTile)]: {
      get: { summary: "Discovery: this MEC's services (answers for every tile); with --discovery the MECs serving the tile, most specific first (5GMETA MECInstance list)",
        parameters: [{ name: "quadkey", in: "path", required: true, schema: { type: "string", pattern: "^[0-3]{1,31}$" } }],
        responses: { 200: { description: "MECs serving the tile", ...json("Discovery") }, 400: bad } },
    },
    ...discoveryPaths(bad, auth),
    ...mediaPaths(dataflowIdParam, auth, missing),
    [oa(ROUTE.dashboard)]: { get: { summary: "Operator dashboard (HTML; asks for the API token in the page)", security: [],
      responses: { 200: { description: "the page", content: { "text/html": {} } } } } },
    [oa(ROUTE.camera)]: { get: { summary: "Camera page: this browser registers a dataflow and pushes its camera over WHIP", security: [],
      responses: { 200: { description: "the page", content: { "text/html": {} } } } } },
    [oa(ROUTE.health)]: { get: { summary: "Liveness", security: [], responses: { 200: { description: "alive" } } } },
    [oa(ROUTE.ready)]: { get: { summary: "Readiness (store and RabbitMQ)", security: [], responses: { 200: { description: "ready" }, 503: { description: "not ready" } } } },
    [oa(ROUTE.metrics)]: { get: { summary: "Prometheus metrics", responses: { 200: { description: "text exposition", content: { "text/plain": {} } } } } },
  };
}

/** Adds each operation's roles (`x-vsb-roles`) and its 403 from the access table. */
function withRoles(paths: Json): Json {
  const forbidden = error("the token's role may not call this (or not on this dataflow/lease: a sensor's own dataflows, a consumer's own leases)");
  for (const route of Object.values(ROUTE)) {
    const item = paths[oa(route)] as Record<string, Json> | undefined;
    for (const method of ["get", "post", "put", "delete"]) {
      const op = item?.[method];
      if (!op || op.security) continue; // public, or the ingest token
      const key = accessKey(method.toUpperCase(), route);
      const access = CORE_ACCESS[key] ?? DISCOVERY_ACCESS[key] ?? (route.startsWith(ROUTE.whep) ? WHEP_ACCESS : DEFAULT_ACCESS);
      op["x-vsb-roles"] = access;
      (op.responses as Json)[403] = forbidden;
    }
  }
  return paths;
}

/** The OpenAPI document served at `/openapi.json`. */
export function openapiDocument(serverUrl: string): Json {
  return {
    openapi: "3.1.0",
    info: { title: "vsb-proxy registration API", version: "1.0.0",
      description: "Registration, keep-alive, demand leases, discovery, WHIP ingest and WHEP playback of the vsb MEC proxy (5GMETA-compatible)." },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    paths: withRoles(paths()),
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "a static token (--api-token ROLE:TOKEN) or an OIDC JWT (--jwks-url); x-vsb-roles names the roles each call takes; not needed when the proxy runs open (loopback or --insecure-open)" },
        ingest: { type: "http", scheme: "bearer", description: "the dataflow's ingest token (registration answer ingest.token)" },
      },
      schemas: {
        DataflowMetadata: schema(DataflowMetadataSchema, "input"),
        Registration: schema(RegistrationSchema, "output"),
        Keepalive: schema(KeepaliveSchema, "output"),
        DataflowRecord: schema(DataflowRecordSchema, "output"),
        DemandRequest: schema(DemandRequestSchema, "input"),
        DemandRenew: schema(DemandRenewSchema, "input"),
        DemandLease: schema(DemandLeaseSchema, "output"),
        Discovery: schema(DiscoverySchema, "output"),
        MecCreation: mecCreationSchema(),
        Error: schema(ErrorBodySchema, "output"),
      },
    },
  };
}
