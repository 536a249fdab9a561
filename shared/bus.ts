/**
 * Messages on RabbitMQ: event and frame headers (5GMETA names), and the control message
 * that tells an agent at once when `send` changes.
 */
import { z } from "zod";
import type { DataflowMetadata } from "./dataflow.ts";
import { HEADER, HEADER_ZOOM } from "./names.ts";
import { quadkey } from "./quadkey.ts";

/** Headers of `newdataflow`/`terminatedataflow` (and the first six of every frame). */
export const EventHeadersSchema = z.object({
  [HEADER.dataType]: z.string(),
  [HEADER.dataSubType]: z.string(),
  [HEADER.dataSampleRate]: z.number(),
  [HEADER.sourceId]: z.number().int(),
  [HEADER.locationQuadkey]: z.string(),
  [HEADER.bodySize]: z.number().int().nonnegative(),
});
export type EventHeaders = z.infer<typeof EventHeadersSchema>;

/** Headers of one frame message on the `video` exchange. */
export const FrameHeadersSchema = EventHeadersSchema.extend({
  [HEADER.keyframe]: z.boolean(),
  [HEADER.seq]: z.number().int().nonnegative(),
  [HEADER.rtpTimestamp]: z.number().int().nonnegative(),
  [HEADER.captureTime]: z.number(),
  [HEADER.receiveTime]: z.number(),
  [HEADER.width]: z.number().int().nonnegative(),
  [HEADER.height]: z.number().int().nonnegative(),
});
export type FrameHeaders = z.infer<typeof FrameHeadersSchema>;

/** Body of `control.{id}` (AMQP) / `control/{id}` (MQTT). */
export const ControlMessageSchema = z.object({ id: z.number().int().positive(), send: z.boolean() });
export type ControlMessage = z.infer<typeof ControlMessageSchema>;

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
    body_size: bodySize,
  };
}
