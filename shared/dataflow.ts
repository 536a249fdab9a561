/**
 * Dataflow metadata as a 5GMETA sensor registers it (steps 3–4), plus the typed
 * `videoInfo` vsb adds, and the answers of the registration API (steps 4–6).
 * A body exactly as a 2022 5GMETA sensor sends it parses unchanged.
 */
import { z } from "zod";
import { DISCOVERY_ZOOM } from "./names.ts";
import { isQuadkey, MAX_LATITUDE, quadkey } from "./quadkey.ts";

const TEXT = 256;

/** A JSON number, or a string holding one (old sensors send both); never NaN or Infinity. */
const numeric = z.union([
  z.number(),
  z.string().trim().max(32).regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, "must be a number").transform(Number),
]).pipe(z.number());

const text = (max = TEXT) => z.string().min(1).max(max);

/** Bing quadkey of 1 to 31 digits 0–3. */
export const QuadkeySchema = z.string().refine(isQuadkey, "must be a quadkey of 1 to 31 digits 0-3");

/** Where a video comes from on the sensor. */
export const VideoSourceSchema = z.enum(["v4l2", "udp", "rtsp", "file", "test", "browser"]);
export type VideoSource = z.infer<typeof VideoSourceSchema>;

/** Typed video description (vsb), instead of stringly `extraAttributes`. */
export const VideoInfoSchema = z.object({
  width: z.number().int().min(16).max(8192),
  height: z.number().int().min(16).max(8192),
  fps: z.number().positive().max(240),
  codec: z.enum(["h264"]).default("h264"),
  bitrateKbps: z.number().int().positive().max(1_000_000).optional(),
  source: VideoSourceSchema,
  /** Milliseconds since the epoch when the sensor described the stream. */
  timestamp: z.number().int().nonnegative().optional(),
});
export type VideoInfo = z.infer<typeof VideoInfoSchema>;

/**
 * `extraAttributes`: 5GMETA sensors send "", null, a JSON string or an object.
 * Normalised to an object, or undefined when empty.
 */
const ExtraAttributesSchema = z
  .union([z.string().max(16_384), z.record(z.string().max(TEXT), z.unknown()), z.null()])
  .optional()
  .transform((value, ctx): Record<string, unknown> | undefined => {
    if (value === null || value === undefined || value === "") return undefined;
    if (typeof value !== "string") return value;
    try {
      const parsed: unknown = JSON.parse(value);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch { /* reported below */ }
    ctx.addIssue({ code: "custom", message: "must be a JSON object, an object, or empty" });
    return z.NEVER;
  });

/** Where the sensor is. Without `locationQuadkey`, the zoom-18 tile of its lat/lon (as 5GMETA registered it). */
const LocationSchema = z.object({
  locationQuadkey: QuadkeySchema.optional(),
  locationCountry: z.string().max(64).default(""),
  locationLatitude: numeric.pipe(z.number().min(-MAX_LATITUDE).max(MAX_LATITUDE)),
  locationLongitude: numeric.pipe(z.number().min(-180).max(180)),
}).transform((loc) => ({
  ...loc,
  locationQuadkey: loc.locationQuadkey ?? quadkey(loc.locationLatitude, loc.locationLongitude, DISCOVERY_ZOOM),
}));

const timezone = z.union([numeric, z.string().max(64)]).optional();
const stratum = numeric.pipe(z.number().int().min(0).max(16)).optional();

/**
 * `dataSourceInfo`. The sensor's `sourceTimezone`/`sourceStratumLevel` and the
 * server-side names `timeZone`/`timeStratumLevel` are both read; both are stored.
 */
const DataSourceInfoSchema = z
  .object({
    sourceTimezone: timezone,
    sourceStratumLevel: stratum,
    timeZone: timezone,
    timeStratumLevel: stratum,
    sourceId: z.union([z.number().int().nonnegative(), text(128)]),
    sourceType: text(64),
    sourceLocationInfo: LocationSchema,
  })
  .transform((info) => ({
    ...info,
    sourceTimezone: info.sourceTimezone ?? info.timeZone,
    timeZone: info.timeZone ?? info.sourceTimezone,
    sourceStratumLevel: info.sourceStratumLevel ?? info.timeStratumLevel,
    timeStratumLevel: info.timeStratumLevel ?? info.sourceStratumLevel,
  }));

/**
 * What may go into a routing key or MQTT topic level: `dataSubType` becomes a level of
 * `video.{dataSubType}.{id}`, so `.` would move frames past `video.*.{id}`, and `*`, `#`, `/`,
 * `+` or spaces would be wildcards or other levels on one side or the other.
 */
export const ROUTING_WORD = /^[A-Za-z0-9_-]{1,64}$/;
const routingWord = z.string().regex(ROUTING_WORD, "must be 1-64 letters, digits, '_' or '-' (it is a level of the routing key)");

/** The body of `POST /dataflows` and (optionally) `PUT /dataflows/{id}`. */
export const DataflowMetadataSchema = z.object({
  dataTypeInfo: z.object({ dataType: text(64), dataSubType: routingWord }),
  dataInfo: z.object({
    dataFormat: text(64),
    dataSampleRate: numeric.pipe(z.number().min(0).max(1_000_000)),
    dataflowDirection: text(64).default("upload"),
    extraAttributes: ExtraAttributesSchema,
  }),
  licenseInfo: z.object({ licenseGeolimit: z.string().max(TEXT), licenseType: z.string().max(TEXT) }).optional(),
  dataSourceInfo: DataSourceInfoSchema,
  videoInfo: VideoInfoSchema.optional(),
  /** vsb: re-send this dataflow's RTP over UDP for a legacy pipeline. Absent: the proxy's
   * `--udp-forward` policy decides (`requested`, its default, forwards only when true). */
  udpForward: z.boolean().optional()
    .describe("Re-send this dataflow's RTP over UDP for a legacy pipeline; absent: the proxy's --udp-forward decides (requested: only when true)"),
});
/** Metadata as the proxy stores it (after normalisation). */
export type DataflowMetadata = z.output<typeof DataflowMetadataSchema>;
/** Metadata as a sensor may send it. */
export type DataflowMetadataInput = z.input<typeof DataflowMetadataSchema>;

/** Where and how the sensor pushes media (WHIP, RFC 9725). */
export const IngestSchema = z.object({ whipUrl: z.string(), token: z.string() });

/** Where a dataflow's RTP is re-sent over UDP (legacy pipelines), or null when it is not. */
export const UdpForwardSchema = z.object({ host: z.string(), port: z.number().int() }).nullable()
  .describe("Where the dataflow's RTP is re-sent over UDP; null when it does not forward");

/**
 * `201` answer to `POST /dataflows`. `id`, `topic`, `send` are the 5GMETA fields, with 5GMETA's
 * meaning: `topic` is the lower-case `dataType` (`"video"`); where the frames are published is
 * `routingKey` (`video.{dataSubType}.{id}` on exchange `video`).
 */
const topic = z.string().describe("5GMETA's topic: the lower-case dataType, e.g. \"video\"");
const routingKey = z.string().describe("Routing key of the dataflow's frames on exchange video: video.{dataSubType}.{id}");

/**
 * A replay floor: every control message signed before this answer was made has a smaller `seq`
 * (and is superseded by the answer's `send`), so the agent refuses those from now on.
 */
const controlSeq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
  .describe("control messages with this seq or a smaller one are older than this answer: the agent ignores them");

/**
 * The dataflow's control secret: 32 random bytes in base64url. Only the registration answer
 * carries it (never a list or a keep-alive); the agent checks the `mac` of every control message
 * with it. Optional so that an agent can still register with an older proxy (it then ignores MQTT
 * control and takes `send` from keep-alives only).
 */
export const ControlKeySchema = z.object({
  key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be 32 bytes in base64url")
    .describe("HMAC-SHA256 key (32 bytes, base64url) that signs this dataflow's control messages; given once, keep it secret"),
  seq: controlSeq,
}).describe("How the agent tells the proxy's control messages from forged ones (README, Security)");

export const RegistrationSchema = z.object({
  id: z.number().int().positive(),
  topic,
  routingKey,
  send: z.boolean(),
  keepaliveSeconds: z.number().positive(),
  ingest: IngestSchema,
  udpForward: UdpForwardSchema,
  control: ControlKeySchema.optional(),
});
export type Registration = z.infer<typeof RegistrationSchema>;

/** Answer to `PUT /dataflows/{id}` (keep-alive). */
export const KeepaliveSchema = z.object({
  id: z.number().int().positive(),
  send: z.boolean(),
  keepaliveSeconds: z.number().positive().optional(),
  /** The replay floor at this answer (README, Security); absent from older proxies. */
  controlSeq: controlSeq.optional(),
});
export type Keepalive = z.infer<typeof KeepaliveSchema>;

/**
 * Life of a dataflow as operators see it: `registered` (no media yet), `live` (a WHIP
 * session is up), `idle` (alive, not streaming now), `expired` (keep-alives missed or deleted).
 */
export const DataflowStateSchema = z.enum(["registered", "idle", "live", "expired"]);
export type DataflowState = z.infer<typeof DataflowStateSchema>;

/** One dataflow as `GET /dataflows[/{id}]` shows it. */
export const DataflowRecordSchema = z.object({
  id: z.number().int().positive(),
  topic,
  routingKey,
  state: DataflowStateSchema,
  active: z.boolean(),
  send: z.boolean(),
  keepaliveSeconds: z.number().positive(),
  registeredAt: z.string(),
  lastSeenAt: z.string().describe("The last keep-alive (or the registration)"),
  lastMediaAt: z.string().optional()
    .describe("The last RTP packet of a WHIP session, absent before the first: media keeps a dataflow present, expiry runs from the later of the two"),
  metadata: z.unknown(),
  udpForward: UdpForwardSchema,
  whipUrl: z.string(),
  /** Ended dataflows: when and why (keep-alive expiry, delete, ...). */
  endedAt: z.string().optional(),
  endReason: z.string().optional(),
  stats: z.record(z.string(), z.number()).optional(),
  ingestReplica: z.string().optional()
    .describe("Public URL of the proxy replica that owns the dataflow's WHIP session (absent when none is live)"),
});
export type DataflowRecord = z.infer<typeof DataflowRecordSchema>;

/** The most dataflows one `GET /dataflows` answers; also its page size when no `limit` is given. */
export const DATAFLOW_PAGE_MAX = 1000;

/** Query of `GET /dataflows`. */
export const DataflowQuerySchema = z.object({
  quadkey: z.string().regex(/^[0-3]{0,31}$/, "must be a quadkey prefix (digits 0-3)").optional(),
  dataType: z.string().max(64).optional(),
  active: z.enum(["true", "false"]).transform((v) => v === "true").optional(),
  /** At most this many dataflows (1 to 1000, default 1000), the newest (highest ids) of those that match. */
  limit: z.string().regex(/^\d{1,6}$/, "must be a whole number").transform(Number)
    .pipe(z.number().int().min(1, "must be at least 1").max(DATAFLOW_PAGE_MAX, `must be at most ${DATAFLOW_PAGE_MAX}`)).optional(),
  /** Only ids below this one: the next (older) page starts below the lowest id of the last one (Link rel="next"). */
  before: z.string().regex(/^[1-9]\d{0,15}$/, "must be a dataflow id").transform(Number).optional(),
});
