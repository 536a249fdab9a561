/**
 * Every name that crosses a process boundary: HTTP routes, exchanges, routing keys,
 * MQTT topics, message header names and discovery service names. Nothing outside
 * `shared/` spells one of these as a literal (CONVENTIONS.md, habit 8).
 */

/** Exchange for `newdataflow`, `terminatedataflow` and `control.{id}`; MQTT lands here too. */
export const EVENTS_EXCHANGE = "amq.topic";
/** Topic exchange (durable) that carries one message per H.264 access unit. */
export const VIDEO_EXCHANGE = "video";

/** Routing key announcing that a dataflow is about to stream (5GMETA step 7). */
export const NEW_DATAFLOW = "newdataflow";
/** Routing key announcing that a dataflow's session ended (5GMETA step 9). */
export const TERMINATE_DATAFLOW = "terminatedataflow";

/**
 * The durable queue in which one proxy process follows the dataflow events: one per process
 * (`instance` is unique), so that every replica hears every event.
 */
export function proxyEventQueue(instance: string): string {
  return `vsb-proxy.events.${instance}`;
}

/** AMQP routing key on which the proxy announces `{id, send}` changes for one dataflow. */
export function controlRoutingKey(id: number): string {
  return `control.${id}`;
}

/** MQTT topic the agent subscribes to for `{id, send}` changes (same message as above). */
export function controlTopic(id: number): string {
  return mqttTopic(controlRoutingKey(id));
}

/** The `topic` of a registration answer, as 5GMETA answers it: the lower-case `dataType`. */
export function registrationTopic(dataType: string): string {
  return dataType.toLowerCase();
}

/** AMQP routing key of the frames of one dataflow: `video.{dataSubType}.{id}`. */
export function videoRoutingKey(dataSubType: string, id: number): string {
  return `video.${dataSubType}.${id}`;
}

/** Binding pattern matching the frames of every dataflow of one sub type. */
export function videoBindingPattern(dataSubType = "*"): string {
  return `video.${dataSubType}.*`;
}

/** RabbitMQ's MQTT plugin maps topic `a/b` to routing key `a.b` on `amq.topic`. */
export function mqttTopic(routingKey: string): string {
  return routingKey.replaceAll(".", "/");
}

/** Inverse of {@link mqttTopic}. */
export function routingKeyOf(topic: string): string {
  return topic.replaceAll("/", ".");
}

/** AMQP header (and MQTT-less property) names, as 5GMETA named them. */
export const HEADER = {
  dataType: "dataType",
  dataSubType: "dataSubType",
  dataSampleRate: "dataSampleRate",
  sourceId: "sourceId",
  /**
   * vsb's: the sensor's registered `dataSourceInfo.sourceId` (the agent's `--source-id`), as a
   * string. `sourceId` is the dataflow id, which differs per MEC; this one follows a vehicle
   * across a handover from MEC to MEC.
   */
  registeredSourceId: "registeredSourceId",
  locationQuadkey: "locationQuadkey",
  bodySize: "body_size",
  keyframe: "keyframe",
  seq: "seq",
  rtpTimestamp: "rtpTimestamp",
  captureTime: "captureTime",
  receiveTime: "receiveTime",
  captureTimeSource: "captureTimeSource",
  width: "width",
  height: "height",
} as const;

/**
 * Values of the `captureTimeSource` frame header: where `captureTime` came from.
 *   - sender: the sender's wall clock (its abs-capture-time stamp, see shared/abs_capture_time.ts);
 *   - receive: the sender gave no capture time, so `captureTime` = `receiveTime` (the proxy's);
 *   - clamped: the sender's time lay in the future beyond the tolerance (its clock is ahead):
 *     `captureTime` = `receiveTime`, the latest the picture can have been taken.
 */
export const CAPTURE_TIME_SOURCE = { sender: "sender", receive: "receive", clamped: "clamped" } as const;
export type CaptureTimeSource = (typeof CAPTURE_TIME_SOURCE)[keyof typeof CAPTURE_TIME_SOURCE];

/** RTP header extension URIs (RFC 8285 `a=extmap`) that vsb negotiates. */
export const RTP_EXTENSION = {
  /** The picture's capture time on the sender's wall clock (shared/abs_capture_time.ts). */
  absCaptureTime: "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
  /**
   * A transport-wide sequence number on every packet, which a receiver reports back in RTCP
   * transport-cc feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2, §3.1).
   */
  transportWideCc: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
} as const;

/**
 * Headers in which RabbitMQ's `rabbitmq_amqp1_0` plugin (3.10, rabbit_amqp1_0_message.erl) keeps
 * AMQP 1.0 sections of a message published over 0-9-1: their bytes, already AMQP 1.0 encoded,
 * are what an AMQP 1.0 receiver gets as that section.
 */
export const AMQP10_HEADER = {
  applicationProperties: "x-amqp-1.0-app-properties",
  properties: "x-amqp-1.0-properties",
} as const;

/**
 * The AMQP 1.0 source address (RabbitMQ 3.10 `rabbitmq_amqp1_0`) that receives what `exchange`
 * routes with `bindingKey`, e.g. `/exchange/video/video.h264.1` or `/exchange/video/#`.
 */
export function amqp10ExchangeSource(exchange: string, bindingKey: string): string {
  return `/exchange/${exchange}/${bindingKey}`;
}

/** Service names in a discovery answer (`sb_services[].service_name`). */
export const SERVICE = {
  messageBroker: "message-broker",
  registrationApi: "registration-api",
  videoBroker: "video-broker",
} as const;

/** Quadkey zoom used for discovery and registration. */
export const DISCOVERY_ZOOM = 18;
/** Quadkey zoom used in message headers (`locationQuadkey`). */
export const HEADER_ZOOM = 25;

/** HTTP route patterns as hono spells them (`:param`). */
export const ROUTE = {
  health: "/health",
  ready: "/ready",
  metrics: "/metrics",
  openapi: "/openapi.json",
  mecTile: "/mec/tile/:quadkey",
  /** Discovery service (`--discovery`): register a MEC (POST) and list them (GET). */
  mecs: "/mec",
  /** Discovery service: one MEC by its numeric id (GET, DELETE). */
  mec: "/mec/:mecId",
  /** Discovery service: a tile served by a MEC (POST, DELETE). */
  mecServedTile: "/mec/:mecId/tile/:tile",
  dataflows: "/dataflows",
  dataflow: "/dataflows/:id",
  demands: "/demands",
  demand: "/demands/:id",
  whip: "/whip/:id",
  whipSession: "/whip/:id/:session",
  whep: "/whep/:id",
  whepSession: "/whep/:id/:session",
  dashboard: "/",
  /** The operator's browser as a camera: registers a dataflow and pushes it over WHIP. */
  camera: "/camera",
} as const;

/** Query parameter of `DELETE /mec/{id}`: remove only the service entries at this URL (a replica leaving). */
export const MEC_SERVICE_URL_QUERY = "service_url";

/** Concrete paths for clients (agent, consumer CLI, tests). */
export const PATH = {
  mecTile: (quadkey: string) => `/mec/tile/${encodeURIComponent(quadkey)}`,
  mecs: "/mec",
  mec: (id: number | string) => `/mec/${encodeURIComponent(String(id))}`,
  /** `DELETE` of one replica's service entries at `url` (the MEC goes with its last replica). */
  mecReplica: (id: number | string, url: string) => `/mec/${encodeURIComponent(String(id))}?${MEC_SERVICE_URL_QUERY}=${encodeURIComponent(url)}`,
  mecServedTile: (id: number | string, tile: string) => `/mec/${encodeURIComponent(String(id))}/tile/${encodeURIComponent(tile)}`,
  dataflow: (id: number) => `/dataflows/${id}`,
  demand: (id: string) => `/demands/${encodeURIComponent(id)}`,
  whip: (id: number) => `/whip/${id}`,
  whep: (id: number) => `/whep/${id}`,
} as const;

/** Media type of WHIP/WHEP offers and answers (RFC 9725 §4.2). */
export const SDP_CONTENT_TYPE = "application/sdp";
