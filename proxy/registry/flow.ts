/**
 * One active dataflow as the registry holds it in memory, and its public view
 * (`DataflowRecord`) for `GET /dataflows`.
 */
import {
  type DataflowMetadata,
  type DataflowRecord,
  PATH,
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
  quadkey: string;
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

/** Rebuilds an active flow from its row (at start-up). */
export function flowFromRow(row: DataflowRow): Flow {
  const state = row.state === "live" || row.state === "idle" ? row.state : "registered";
  return {
    id: row.id,
    metadata: JSON.parse(row.metadata) as DataflowMetadata,
    dataType: row.data_type,
    dataSubType: row.data_sub_type,
    quadkey: row.quadkey,
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
  };
}
