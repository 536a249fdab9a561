/**
 * Puts registry events on the bus: `control.{id}` whenever `send` changes (so the agent
 * reacts within a second over MQTT, not at its next keep-alive) and `terminatedataflow`
 * when a dataflow ends. They go through one retrying lane, so they reach the broker once
 * it is back, in the order they happened. Control messages are signed (registry/control_signer.ts);
 * with `userId`, every message carries the broker-validated AMQP `user-id` of the proxy.
 */
import {
  AMQP10_HEADER, controlRoutingKey, type DataflowMetadata, EVENTS_EXCHANGE, eventHeaders,
  NEW_DATAFLOW, TERMINATE_DATAFLOW,
} from "../../shared/mod.ts";
import { logger } from "../log.ts";
import { encodeAppProperties } from "./amqp10_app_properties.ts";
import { PropertiesWriter } from "./amqp10_properties.ts";
import { ControlSigner } from "../registry/control_signer.ts";
import type { Registry, Unsubscribe } from "../registry/registry.ts";
import type { Lane } from "./lane.ts";
import type { Publisher } from "./publisher.ts";

const log = logger("bus");

/** Name of the lane that carries events and control messages. */
export const EVENTS_LANE = "events";

/** Options of {@link Announcer}; defaults in brackets. */
export interface AnnouncerOptions {
  /** Events kept while the broker is away [10000]. */
  maxMessages?: number;
  /** Bytes kept while the broker is away [16 MiB]. */
  maxBytes?: number;
  /**
   * AMQP `user-id` on every event and control message: exactly the user of the proxy's AMQP
   * connection (RabbitMQ closes the channel otherwise), see {@link amqpUserOf} [none].
   */
  userId?: string;
  /** Signs control messages [ControlSigner.shared, as the registry's default]. */
  signer?: ControlSigner;
}

/**
 * The user amqplib authenticates as for `url` (PLAIN): the URL's user name, or `guest` when the
 * URL names neither user nor password; undefined when that user is empty.
 */
export function amqpUserOf(url: string): string | undefined {
  const u = new URL(url);
  if (u.username === "" && u.password === "") return "guest";
  return u.username === "" ? undefined : decodeURIComponent(u.username);
}

/** Which dataflow event. */
export type DataflowEventKey = typeof NEW_DATAFLOW | typeof TERMINATE_DATAFLOW;

/** Publishes dataflow events and control messages. The ingest uses it for `newdataflow` too. */
export class Announcer {
  readonly #lane: Lane;
  readonly #userId: string | undefined;
  readonly #signer: ControlSigner;

  constructor(private readonly publisher: Publisher, options: AnnouncerOptions = {}) {
    this.#userId = options.userId;
    this.#signer = options.signer ?? ControlSigner.shared;
    this.#lane = publisher.lane(EVENTS_LANE, {
      maxMessages: options.maxMessages ?? 10_000,
      maxBytes: options.maxBytes ?? 16 * 1024 * 1024,
      overflow: "drop-oldest",
      retry: true,
    });
  }

  /**
   * Publishes `newdataflow`/`terminatedataflow` for `id` with the 5GMETA headers; `messageId`
   * (AMQP property) lets this proxy recognise its own event when it hears it back.
   */
  dataflowEvent(key: DataflowEventKey, id: number, metadata: DataflowMetadata, reason?: string, messageId?: string): void {
    const body = Buffer.from(JSON.stringify({ ...metadata, id, ...(reason ? { reason } : {}) }));
    const headers = eventHeaders(id, metadata, body.byteLength);
    const contentType = "application/json";
    this.publisher.publish(this.#lane, {
      exchange: EVENTS_EXCHANGE, routingKey: key, body, contentType, messageId, userId: this.#userId,
      headers: {
        ...headers,
        // The same headers for AMQP 1.0 receivers (see proxy/bus/amqp10_app_properties.ts).
        [AMQP10_HEADER.applicationProperties]: encodeAppProperties(headers),
        [AMQP10_HEADER.properties]: new PropertiesWriter({ messageId, subject: key, contentType }).write(Date.now()),
      },
    });
    log.info("dataflow event queued", { id, event: key, reason });
  }

  /** Publishes `{id, send, seq, mac}` on `control.{id}`, signed with `controlKey` (unsigned without one). */
  control(id: number, send: boolean, controlKey: string | null = null): void {
    const message = this.#signer.sign(id, send, controlKey);
    this.publisher.publish(this.#lane, {
      exchange: EVENTS_EXCHANGE, routingKey: controlRoutingKey(id), userId: this.#userId,
      body: Buffer.from(JSON.stringify(message)), contentType: "application/json",
    });
  }

  /**
   * Subscribes to `registry`: control on every `send` change, and `terminatedataflow` when a
   * dataflow ends (deleted, expired) unless its session's end is already on the bus: with
   * `heard`, it waits `graceMs` (the agent announces over MQTT just before it deletes) and
   * publishes only when the last event heard for the dataflow is not a `terminatedataflow`.
   * The returned function stops following and decides what is still waiting at once.
   */
  follow(registry: Registry, options: FollowOptions = {}): Unsubscribe {
    const graceMs = options.heard ? (options.graceMs ?? 1000) : 0;
    const pending = new Map<ReturnType<typeof setTimeout>, () => void>();
    const decide = (id: number, metadata: DataflowMetadata, reason: string) => {
      if (options.heard?.lastEvent(id)?.event === TERMINATE_DATAFLOW) {
        log.info("dataflow end already announced", { id, reason });
        return;
      }
      this.dataflowEvent(TERMINATE_DATAFLOW, id, metadata, reason);
    };
    const offs = [
      // Another replica's change is announced by that replica: once per change, not once per proxy.
      registry.on("send", ({ id, send, remote }) => void (remote || this.control(id, send, registry.controlKeyOf(id)))),
      registry.on("ended", ({ id, metadata, reason, remote }) => {
        if (remote) return;
        if (graceMs <= 0) return decide(id, metadata, reason);
        const timer = setTimeout(() => pending.get(timer)?.(), graceMs);
        pending.set(timer, () => {
          pending.delete(timer);
          decide(id, metadata, reason);
        });
      }),
    ];
    return () => {
      offs.forEach((off) => off());
      for (const [timer, run] of [...pending]) {
        clearTimeout(timer);
        run();
      }
    };
  }
}

/** What the bus said last about a dataflow (proxy/outputs/dataflow_events.ts implements it). */
export interface LastEventHeard {
  lastEvent(id: number): { event: string } | undefined;
}

/** Options of {@link Announcer.follow}; each field documents its default. */
export interface FollowOptions {
  /** Events heard on the bus; without it every end is announced at once. Default none. */
  heard?: LastEventHeard;
  /** How long to wait for the agent's own announcement. Default 1000 ms. */
  graceMs?: number;
}
