/**
 * Messages on RabbitMQ: event and frame headers (5GMETA names), and the control message
 * that tells an agent at once when `send` changes.
 */
import { z } from "zod";
import type { DataflowMetadata } from "./dataflow.ts";
import { CAPTURE_TIME_SOURCE, HEADER, HEADER_ZOOM } from "./names.ts";
import { quadkey } from "./quadkey.ts";

/** Headers of `newdataflow`/`terminatedataflow` (and the first seven of every frame). */
export const EventHeadersSchema = z.object({
  [HEADER.dataType]: z.string(),
  [HEADER.dataSubType]: z.string(),
  [HEADER.dataSampleRate]: z.number(),
  [HEADER.sourceId]: z.number().int(),
  [HEADER.locationQuadkey]: z.string(),
  /** Absent from proxies older than the handover (issue #15 item 3). */
  [HEADER.registeredSourceId]: z.string().optional(),
  [HEADER.bodySize]: z.number().int().nonnegative(),
});
export type EventHeaders = z.infer<typeof EventHeadersSchema>;

/**
 * Headers of one frame message on the `video` exchange. `captureTime` is when the picture was
 * taken on the sender's wall clock (ms since the epoch), `receiveTime` when its first RTP packet
 * reached the proxy (the proxy's clock); `captureTimeSource` says which clock `captureTime` is.
 */
export const FrameHeadersSchema = EventHeadersSchema.extend({
  [HEADER.keyframe]: z.boolean(),
  [HEADER.seq]: z.number().int().nonnegative(),
  [HEADER.rtpTimestamp]: z.number().int().nonnegative(),
  [HEADER.captureTime]: z.number(),
  [HEADER.receiveTime]: z.number(),
  /** Absent from proxies older than the capture-time mapping (their captureTime = receiveTime). */
  [HEADER.captureTimeSource]: z.enum([CAPTURE_TIME_SOURCE.sender, CAPTURE_TIME_SOURCE.receive, CAPTURE_TIME_SOURCE.clamped]).optional(),
  [HEADER.width]: z.number().int().nonnegative(),
  [HEADER.height]: z.number().int().nonnegative(),
});
export type FrameHeaders = z.infer<typeof FrameHeadersSchema>;

/**
 * Body of `control.{id}` (AMQP) / `control/{id}` (MQTT). The proxy signs it: `seq` grows with
 * every message of the dataflow (microseconds since the epoch, or one more than the last) and
 * `mac` is HMAC-SHA256, keyed with the dataflow's `control.key` from the registration answer,
 * over {@link controlMacInput}, in base64url. An agent obeys only a valid `mac` with a `seq`
 * above the last one it accepted; `seq` and `mac` are optional here so that it can count what
 * it ignores (unsigned messages of older proxies, forgeries) instead of failing to parse them.
 */
export const ControlMessageSchema = z.object({
  id: z.number().int().positive(),
  send: z.boolean(),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  mac: z.string().max(128).optional(),
});
export type ControlMessage = z.infer<typeof ControlMessageSchema>;

/** Version tag of the signed control encoding; a new encoding gets a new tag. */
export const CONTROL_MAC_VERSION = "vsb-control/1";

/**
 * The exact bytes (UTF-8) the control `mac` covers: the JSON array `["vsb-control/1", id, send,
 * seq]`, e.g. `["vsb-control/1",7,true,1765000000000000]` (integers and a boolean print one
 * way only, so every language rebuilds the same text).
 */
export function controlMacInput(message: { id: number; send: boolean; seq: number }): string {
  return JSON.stringify([CONTROL_MAC_VERSION, message.id, message.send, message.seq]);
}

/** Body of `newdataflow`/`terminatedataflow`: the metadata plus the id (and why it ended). */
export const DataflowEventSchema = z.object({
  id: z.number().int().positive(),
  reason: z.string().optional(),
}).passthrough();
export type DataflowEvent = z.infer<typeof DataflowEventSchema>;

/** Headers for an event about dataflow `id`; `locationQuadkey` at zoom 25 from its position. */
export function eventHeaders(id: number, metadata: DataflowMetadata, bodySize: number): EventHeaders {
  const loc = metadata.dataSourceInfo.sourceLocationInfo;
  return {
    dataType: metadata.dataTypeInfo.dataType,
    dataSubType: metadata.dataTypeInfo.dataSubType,
    dataSampleRate: metadata.dataInfo.dataSampleRate,
    sourceId: id,
    locationQuadkey: quadkey(loc.locationLatitude, loc.locationLongitude, HEADER_ZOOM),
    registeredSourceId: String(metadata.dataSourceInfo.sourceId),
    body_size: bodySize,
  };
}
