/**
 * The agent's MQTT 3.1.1 session with the MEC's message broker (RabbitMQ's MQTT plugin speaks
 * only 3.1.1, so `protocolVersion: 4`): announces `newdataflow`/`terminatedataflow` (QoS 1),
 * leaves `terminatedataflow` as its last will so a vehicle that drops is still announced, and
 * listens on `control/{id}` for `{id, send}` so demand takes effect at once. Only messages
 * signed with this dataflow's control key, newer than the last one, are obeyed
 * (control_verifier.ts); the rest are counted and logged. The broker being away never stops
 * the stream: mqtt.js reconnects in the background.
 */
import mqtt, { type MqttClient } from "mqtt";
import {
  controlTopic,
  maskUrl,
  mqttTopic,
  NEW_DATAFLOW,
  TERMINATE_DATAFLOW,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { ControlCounters, ControlVerifier } from "./control_verifier.ts";

/** Options of {@link ControlChannel}. */
export interface ControlChannelOptions {
  /** The broker's nodes: one, or a cluster's, tried in turn (mqtt.js `servers`) when one is lost. */
  urls: string[];
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
  /** The registration answer's `control.key`; without it no control message is obeyed. */
  controlKey?: string;
  /** The registration answer's `control.seq`: the first replay floor [-1]. */
  controlSeq?: number;
  /** Where accepted and ignored control messages are counted [a new ControlCounters]. */
  counters?: ControlCounters;
  log: Logger;
  onSend: (send: boolean) => void;
  /** Clock for the warning rate limit (ms) [performance.now]. */
  nowMs?: () => number;
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
 * At most one warning per this long about ignored control messages (a forger may flood the
 * topic); the others are debug lines, and the next warning carries how many there were.
 */
export const IGNORED_WARN_INTERVAL_MS = 60_000;

/**
 * An MQTT client id for dataflow `id`, kept across reconnects: a reconnect then takes over the
 * broker's old session at once (MQTT 3.1.1 §3.1.4), so a last will it publishes comes before
 * our new announcement, not seconds after it.
 */
function clientIdOf(id: number): string {
  return `vsb-agent-${id}-${Math.random().toString(16).slice(2, 10)}`;
}

/** A broker node as mqtt.js's `servers` takes it (credentials come from the options). */
function serverOf(url: string): { host: string; port: number; protocol: "mqtt" | "mqtts" | "ws" | "wss" } {
  const u = new URL(url);
  const protocol = u.protocol.replace(":", "").replace(/^tcp$/, "mqtt").replace(/^ssl$/, "mqtts") as "mqtt" | "mqtts" | "ws" | "wss";
  const port = Number(u.port) || (protocol === "mqtts" ? 8883 : protocol === "wss" ? 443 : protocol === "ws" ? 80 : 1883);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port, protocol };
}

/** One MQTT session for one registered dataflow. */
export class ControlChannel {
  #o: ControlChannelOptions;
  #client: MqttClient;
  #verifier: ControlVerifier;
  /** Ignored since the last warning, and when that warning was (ms, `nowMs`). */
  #ignoredSinceWarn = 0;
  #lastWarnAt = -Infinity;
  #wasConnected = false;
  /** Failed attempts since the last connection: only an outage's first one is a warning. */
  #failures = 0;

  constructor(options: ControlChannelOptions) {
    this.#o = options;
    this.#verifier = new ControlVerifier(options.id, options.controlKey, options.counters, options.controlSeq);
    if (!options.controlKey) {
      options.log.warn("no control key in the registration answer", { id: options.id, hint: "MQTT control is ignored; send comes from keep-alive answers only" });
    }
    const will = JSON.stringify({ ...options.event, reason: "connection lost" });
    this.#client = mqtt.connect(options.urls[0]!, {
      ...(options.urls.length > 1 ? { servers: options.urls.map(serverOf) } : {}),
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
    const url = options.urls.map(maskUrl).join(",");
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

  /** A keep-alive answer's `controlSeq`: control messages signed before it are refused. */
  raiseFloor(seq: number): void {
    this.#verifier.raiseFloor(seq);
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.#client.connected;
  }

  #onConnect(): void {
    this.#wasConnected = true;
    const topic = controlTopic(this.#o.id);
    // The node mqtt.js connected to (with several, it moves through them on each reconnect).
    const { host, port } = this.#client.options;
    const url = this.#o.urls.find((u) => serverOf(u).host === host && serverOf(u).port === port) ?? this.#o.urls[0]!;
    this.#o.log.info("mqtt connected", { url: maskUrl(url), topic, failedAttempts: this.#failures });
    this.#failures = 0;
    // QoS 0: RabbitMQ 3.10's MQTT plugin keeps a QoS 1 subscription in a durable queue on the node
    // the client first used; when that node dies no other node of the cluster can subscribe it
    // again (NOT_FOUND, the connection is closed), while a QoS 0 one is transient and moves. A
    // control message lost in a reconnect is made good by the keep-alive asked for on subscribe.
    this.#client.subscribe(topic, { qos: 0 }, (error, granted) => {
      if (!error && granted?.[0]?.qos === 128) error = new Error("the broker refused the subscription");
      if (error) this.#o.log.warn("mqtt subscribe failed", { topic, error });
      else this.#o.onSubscribed?.();
    });
  }

  #onMessage(payload: Uint8Array): void {
    const verdict = this.#verifier.check(payload);
    if (verdict.ok) {
      this.#o.log.info("control received", { send: verdict.send, seq: verdict.seq });
      this.#o.onSend(verdict.send);
      return;
    }
    // Every ignored message is counted (status file); one warning a minute at most, so a flood
    // of forgeries cannot fill the disk. The payload is never logged (it may carry a mac).
    this.#ignoredSinceWarn++;
    const now = (this.#o.nowMs ?? performance.now.bind(performance))();
    const warn = now - this.#lastWarnAt >= IGNORED_WARN_INTERVAL_MS;
    const counters = this.#verifier.counters;
    this.#o.log[warn ? "warn" : "debug"]("control message ignored", {
      id: this.#o.id, reason: verdict.reason, bytes: payload.byteLength, sinceLastWarning: this.#ignoredSinceWarn,
      ignoredTotal: counters.rejectedTotal, ...(warn ? { byReason: { ...counters.rejected }, nextWarningInMs: IGNORED_WARN_INTERVAL_MS } : {}),
    });
    if (warn) {
      this.#lastWarnAt = now;
      this.#ignoredSinceWarn = 0;
    }
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
