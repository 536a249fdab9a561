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
  keepaliveSeconds: number;
  registeredAt: number;
  lastSeen: number;
  state: MediaState;
  send: boolean;
  port: number | null;
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
  return {
    id: row.id,
    metadata,
    dataType: row.data_type,
    dataSubType: row.data_sub_type,
    quadkey: row.quadkey,
    positionQuadkey: positionQuadkey(metadata),
    tokenHash: row.token_hash,
    keepaliveSeconds: row.keepalive_seconds,
    registeredAt: row.registered_at,
    lastSeen: row.last_seen_at,
    state,
    send: false,
    port: row.port,
  };
}

/** Where records point: the advertised base URL and the UDP forward host. */
export interface RecordContext {
  publicUrl: string;
  udpForwardHost: string;
}

/** The topic a dataflow's frames are published on. */
export function topicOf(dataSubType: string, id: number): string {
  return videoRoutingKey(dataSubType, id);
}

/** The WHIP URL a sensor pushes dataflow `id` to. */
export function whipUrlOf(publicUrl: string, id: number): string {
  return `${publicUrl.replace(/\/+$/, "")}${PATH.whip(id)}`;
}

/** The public view of an active flow. */
export function recordOfFlow(flow: Flow, ctx: RecordContext): DataflowRecord {
  return {
    id: flow.id,
    topic: topicOf(flow.dataSubType, flow.id),
    state: flow.state,
    active: true,
    send: flow.send,
    keepaliveSeconds: flow.keepaliveSeconds,
    registeredAt: new Date(flow.registeredAt).toISOString(),
    lastSeenAt: new Date(flow.lastSeen).toISOString(),
    metadata: flow.metadata,
    udpForward: flow.port === null ? null : { host: ctx.udpForwardHost, port: flow.port },
    whipUrl: whipUrlOf(ctx.publicUrl, flow.id),
  };
}

/** The public view of a dataflow that has ended. */
export function recordOfRow(row: DataflowRow, ctx: RecordContext): DataflowRecord {
  return {
    id: row.id,
    topic: topicOf(row.data_sub_type, row.id),
    state: "expired",
    active: false,
    send: false,
    keepaliveSeconds: row.keepalive_seconds,
    registeredAt: new Date(row.registered_at).toISOString(),
    lastSeenAt: new Date(row.last_seen_at).toISOString(),
    metadata: JSON.parse(row.metadata) as unknown,
    udpForward: null,
    whipUrl: whipUrlOf(ctx.publicUrl, row.id),
    ...(row.ended_at === null ? {} : { endedAt: new Date(row.ended_at).toISOString() }),
    ...(row.end_reason === null ? {} : { endReason: row.end_reason }),
  };
}
