/**
 * The agent's MQTT 3.1.1 session with the MEC's message broker (RabbitMQ's MQTT plugin speaks
 * only 3.1.1, so `protocolVersion: 4`): announces `newdataflow`/`terminatedataflow` (QoS 1),
 * leaves `terminatedataflow` as its last will so a vehicle that drops is still announced, and
 * listens on `control/{id}` for `{id, send}` so demand takes effect at once. The broker being
 * away never stops the stream: mqtt.js reconnects in the background.
 */
import mqtt, { type MqttClient } from "mqtt";
import {
  ControlMessageSchema,
  controlTopic,
  maskUrl,
  mqttTopic,
  NEW_DATAFLOW,
  TERMINATE_DATAFLOW,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";

/** Options of {@link ControlChannel}. */
export interface ControlChannelOptions {
  url: string;
  username?: string;
  password?: string;
  /** PEM CA certificate(s) an mqtts:// broker must chain to, instead of the system CAs. */
  ca?: string;
  /** PEM client certificate and key, for a broker that asks for one. */
  cert?: string;
  key?: string;
  /** Where `ca` came from, named in the log when the connection fails (e.g. a wrong CA). */
  caFile?: string;
  /** Dataflow id (topic and last will are per dataflow). */
  id: number;
  /** Event body without `reason`: the metadata and the id. */
  event: Record<string, unknown>;
  log: Logger;
  onSend: (send: boolean) => void;
  /** Called after each (re)subscription to the control topic. */
  onSubscribed?: () => void;
}

/** Which announcement to publish. */
export type Announcement = "new" | "terminate";

/** Pause between connection attempts while the broker is away. */
const RECONNECT_MS = 1000;

/** How long an announcement may wait for the broker's PUBACK. */
const PUBLISH_TIMEOUT_MS = 2000;

/**
 * An MQTT client id for dataflow `id`, kept across reconnects: a reconnect then takes over the
 * broker's old session at once (MQTT 3.1.1 §3.1.4), so a last will it publishes comes before
 * our new announcement, not seconds after it.
 */
function clientIdOf(id: number): string {
  return `vsb-agent-${id}-${Math.random().toString(16).slice(2, 10)}`;
}

/** One MQTT session for one registered dataflow. */
export class ControlChannel {
  #o: ControlChannelOptions;
  #client: MqttClient;
  #wasConnected = false;
  /** Failed attempts since the last connection: only an outage's first one is a warning. */
  #failures = 0;

  constructor(options: ControlChannelOptions) {
    this.#o = options;
    const will = JSON.stringify({ ...options.event, reason: "connection lost" });
    this.#client = mqtt.connect(options.url, {
      protocolVersion: 4,
      clientId: clientIdOf(options.id),
      clean: true,
      // We subscribe on every connect ourselves: a second SUBSCRIBE from mqtt.js's own
      // resubscribe made RabbitMQ re-bind the topic, losing what was published in between.
      resubscribe: false,
      username: options.username,
      password: options.password,
      ...(options.ca ? { ca: [options.ca] } : {}),
      ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
      keepalive: 10,
      reconnectPeriod: RECONNECT_MS,
      connectTimeout: 5000,
      will: { topic: mqttTopic(TERMINATE_DATAFLOW), payload: will, qos: 1, retain: false },
    });
    this.#client.on("connect", () => this.#onConnect());
    this.#client.on("message", (_topic, payload) => this.#onMessage(payload));
    // The URL may carry a password (mqtt://user:pass@host): logs get it masked.
    const url = maskUrl(options.url);
    const caFile = options.caFile;
    this.#client.on("offline", () => {
      if (this.#wasConnected) options.log.warn("mqtt disconnected", { url });
      this.#wasConnected = false;
    });
    // mqtt.js retries every second: one warning per outage, not one line a second for hours.
    this.#client.on("error", (error) => {
      if (this.#failures++ === 0) options.log.warn("mqtt failed", { url, caFile, error, retryEveryMs: RECONNECT_MS });
      else options.log.debug("mqtt failed", { url, caFile, error, attempt: this.#failures });
    });
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.#client.connected;
  }

  #onConnect(): void {
    this.#wasConnected = true;
    const topic = controlTopic(this.#o.id);
    this.#o.log.info("mqtt connected", { url: maskUrl(this.#o.url), topic, failedAttempts: this.#failures });
    this.#failures = 0;
    this.#client.subscribe(topic, { qos: 1 }, (error) => {
      if (error) this.#o.log.warn("mqtt subscribe failed", { topic, error });
      else this.#o.onSubscribed?.();
    });
  }

  #onMessage(payload: Uint8Array): void {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(payload));
    } catch (error) {
      this.#o.log.warn("control message ignored", { reason: "not JSON", error });
      return;
    }
    const parsed = ControlMessageSchema.safeParse(json);
    if (!parsed.success || parsed.data.id !== this.#o.id) {
      this.#o.log.warn("control message ignored", { reason: "unexpected body", body: json });
      return;
    }
    this.#o.log.info("control received", { send: parsed.data.send });
    this.#o.onSend(parsed.data.send);
  }

  /** Publishes `newdataflow` or `terminatedataflow` (QoS 1); resolves true once acknowledged. */
  announce(kind: Announcement, reason?: string): Promise<boolean> {
    const topic = mqttTopic(kind === "new" ? NEW_DATAFLOW : TERMINATE_DATAFLOW);
    const body = JSON.stringify(reason ? { ...this.#o.event, reason } : this.#o.event);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#o.log.warn("announcement not acknowledged", { topic, timeoutMs: PUBLISH_TIMEOUT_MS });
        resolve(false);
      }, PUBLISH_TIMEOUT_MS);
      this.#client.publish(topic, body, { qos: 1 }, (error) => {
        clearTimeout(timer);
        if (error) this.#o.log.warn("announcement failed", { topic, error });
        else this.#o.log.info("announced", { topic, reason });
        resolve(!error);
      });
    });
  }

  /** Disconnects cleanly (the broker then drops the last will). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#client.end(true);
        resolve();
      }, 1000);
      this.#client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
