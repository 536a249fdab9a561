/**
 * One active dataflow as the registry holds it in memory, and its public view
 * (`DataflowRecord`) for `GET /dataflows`.
 */
import {
  checkPosition,
  type DataflowMetadata,
  type DataflowRecord,
  HEADER_ZOOM,
  PATH,
  quadkey,
  registrationTopic,
  ROUTING_WORD,
  videoRoutingKey,
} from "../../shared/mod.ts";
import type { DataflowRow } from "../store/store.ts";

/** Media state of an active dataflow (the ingest sets `live`/`idle`). */
export type MediaState = "registered" | "idle" | "live";

/** Why a dataflow ended. */
export type EndReason = "expired" | "deleted";

/** An active dataflow. `lastSeen` is authoritative here and flushed to the store in batches. */
export interface Flow {
  id: number;
  metadata: DataflowMetadata;
  dataType: string;
  dataSubType: string;
  /** The `locationQuadkey` the sensor sent (usually zoom 18). */
  quadkey: string;
  /** Zoom-25 quadkey of the sensor's coordinates, for deep prefixes; see {@link positionQuadkey}. */
  positionQuadkey?: string;
  tokenHash: string;
  /** Signs its control messages (base64url); null for dataflows registered before keys existed. */
  controlKey: string | null;
  keepaliveSeconds: number;
  registeredAt: number;
  /** The last keep-alive (or the registration). */
  lastSeen: number;
  /** The last RTP packet of its WHIP session, as the ingest reported it; media is presence too. */
  lastMediaAt?: number;
  state: MediaState;
  send: boolean;
  port: number | null;
  /** The identity that registered it (null: before roles existed). */
  owner: string | null;
}

/** Columns derived from metadata that the store indexes. */
export function indexedFields(metadata: DataflowMetadata) {
  return {
    dataType: metadata.dataTypeInfo.dataType,
    dataSubType: metadata.dataTypeInfo.dataSubType,
    quadkey: metadata.dataSourceInfo.sourceLocationInfo.locationQuadkey,
  };
}

/**
 * The zoom-25 quadkey of the metadata's `locationLatitude`/`locationLongitude` (the same key
 * the bus headers carry, so a lease and `vsb-consume --quadkey` agree), or undefined when the
 * metadata has no usable coordinates. Computed, never stored: rows written before it existed
 * get it on load, and a keep-alive with new metadata moves it with the sensor.
 */
export function positionQuadkey(metadata: unknown): string | undefined {
  const loc = (metadata as DataflowMetadata | null)?.dataSourceInfo?.sourceLocationInfo;
  const lat = loc?.locationLatitude;
  const lon = loc?.locationLongitude;
  if (typeof lat !== "number" || typeof lon !== "number") return undefined;
  try {
    checkPosition(lat, lon);
  } catch {
    return undefined; // no usable position: the flow is matched by its sent key alone
  }
  return quadkey(lat, lon, HEADER_ZOOM);
}

/** Rebuilds an active flow from its row (at start-up). */
export function flowFromRow(row: DataflowRow): Flow {
  const state = row.state === "live" || row.state === "idle" ? row.state : "registered";
  const metadata = JSON.parse(row.metadata) as DataflowMetadata;
  // Rows from before the routing-word rule: "x.y" would publish past `video.*.{id}`.
  if (!ROUTING_WORD.test(row.data_sub_type)) throw new Error(`dataSubType ${JSON.stringify(row.data_sub_type)} is not a routing word`);
  return {
    id: row.id,
    metadata,
    dataType: row.data_type,
    dataSubType: row.data_sub_type,
    quadkey: row.quadkey,
    positionQuadkey: positionQuadkey(metadata),
    tokenHash: row.token_hash,
    controlKey: row.control_key ?? null,
    keepaliveSeconds: row.keepalive_seconds,
    registeredAt: row.registered_at,
    lastSeen: row.last_seen_at,
    ...(row.last_media_at === null || row.last_media_at === undefined ? {} : { lastMediaAt: row.last_media_at }),
    state,
    send: false,
    port: row.port,
    owner: row.owner ?? null,
  };
}

/** Where records point: the advertised base URL and the UDP forward host. */
export interface RecordContext {
  publicUrl: string;
  udpForwardHost: string;
}

/** The 5GMETA `topic` of a dataflow (its lower-case `dataType`) and the routing key of its frames. */
export function topicsOf(dataType: string, dataSubType: string, id: number): { topic: string; routingKey: string } {
  return { topic: registrationTopic(dataType), routingKey: videoRoutingKey(dataSubType, id) };
}

/** When a dataflow was last present: its last keep-alive or its last media, whichever is later. */
export function presentAt(flow: Pick<Flow, "lastSeen" | "lastMediaAt">): number {
  return Math.max(flow.lastSeen, flow.lastMediaAt ?? -Infinity);
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? {} : { lastMediaAt: new Date(ms).toISOString() });

/** The WHIP URL a sensor pushes dataflow `id` to. */
export function whipUrlOf(publicUrl: string, id: number): string {
  return `${publicUrl.replace(/\/+$/, "")}${PATH.whip(id)}`;
}

/** The public view of an active flow. */
export function recordOfFlow(flow: Flow, ctx: RecordContext): DataflowRecord {
  return {
    id: flow.id,
    ...topicsOf(flow.dataType, flow.dataSubType, flow.id),
    state: flow.state,
    active: true,
    send: flow.send,
    keepaliveSeconds: flow.keepaliveSeconds,
    registeredAt: new Date(flow.registeredAt).toISOString(),
    lastSeenAt: new Date(flow.lastSeen).toISOString(),
    ...iso(flow.lastMediaAt),
    metadata: flow.metadata,
    udpForward: flow.port === null ? null : { host: ctx.udpForwardHost, port: flow.port },
    whipUrl: whipUrlOf(ctx.publicUrl, flow.id),
  };
}

/** The public view of a dataflow that has ended. */
export function recordOfRow(row: DataflowRow, ctx: RecordContext): DataflowRecord {
  return {
    id: row.id,
    ...topicsOf(row.data_type, row.data_sub_type, row.id),
    state: "expired",
    active: false,
    send: false,
    keepaliveSeconds: row.keepalive_seconds,
    registeredAt: new Date(row.registered_at).toISOString(),
    lastSeenAt: new Date(row.last_seen_at).toISOString(),
    ...iso(row.last_media_at),
    metadata: JSON.parse(row.metadata) as unknown,
    udpForward: null,
    whipUrl: whipUrlOf(ctx.publicUrl, row.id),
    ...(row.ended_at === null ? {} : { endedAt: new Date(row.ended_at).toISOString() }),
    ...(row.end_reason === null ? {} : { endReason: row.end_reason }),
  };
}
