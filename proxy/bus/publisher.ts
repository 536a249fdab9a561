/**
 * Publishes through the one confirm channel from many bounded lanes, round robin, with a
 * cap on unconfirmed messages. Made for both registry events (a few, retried until the
 * broker takes them) and frames (~1000 msgs/s, per-dataflow lanes, dropped when full).
 *
 *   producer ─push→ [lane A] ┐
 *   producer ─push→ [lane B] ┼─ round robin ─→ confirm channel ─ack/nack→ onConfirm
 *   producer ─push→ [lane C] ┘   (≤ maxInFlight unconfirmed)
 */
import type { ConfirmChannel } from "amqplib";
import { logger } from "../log.ts";
import type { Metrics, Series } from "../metrics.ts";
import type { BusConnection } from "./bus_connection.ts";
import { Lane, type LaneOptions, type LaneStats, type OutMessage, type Queued } from "./lane.ts";

const log = logger("bus");

/** One broker confirmation (or failure) as seen by metrics. */
export interface ConfirmEvent {
  lane: string;
  ok: boolean;
  /** From `publish()` to the broker's ack, in ms. */
  totalMs: number;
  /** From the channel write to the broker's ack, in ms. */
  confirmMs: number;
}

/** Options of {@link Publisher}; defaults in brackets. */
export interface PublisherOptions {
  /** Unconfirmed messages allowed at once across lanes [1024]. */
  maxInFlight?: number;
  /** Called for every confirmation or failure. */
  onConfirm?: (event: ConfirmEvent) => void;
  /** Registers queue depth, drops and confirm latency here when given. */
  metrics?: Metrics;
}

interface InFlight {
  lane: Lane;
  item: Queued;
  sentAt: number;
}

/** The publisher; one per proxy, shared by every producer. */
export class Publisher {
  readonly #lanes = new Map<string, Lane>();
  readonly #pending = new Set<Lane>();
  readonly #inFlight = new Map<number, InFlight>();
  readonly #maxInFlight: number;
  readonly #onConfirm: (event: ConfirmEvent) => void;
  #seq = 0;
  #scheduled = false;
  #waitingDrain = false;
  /** Set when the channel threw on publish: wait for the next "up" instead of spinning on it. */
  #broken = false;
  /** Messages the broker returned (published `mandatory`, no queue bound), per exchange. */
  readonly #returned = new Map<string, number>();
  #lastReturnWarn = -Infinity;

  constructor(private readonly bus: BusConnection, options: PublisherOptions = {}) {
    this.#maxInFlight = options.maxInFlight ?? 1024;
    const hooks: ((event: ConfirmEvent) => void)[] = [];
    if (options.metrics) hooks.push(this.#registerMetrics(options.metrics));
    if (options.onConfirm) hooks.push(options.onConfirm);
    this.#onConfirm = (event) => hooks.forEach((h) => h(event));
    bus.on("up", (channel: ConfirmChannel) => {
      channel.on("return", (msg: { fields: { exchange: string; routingKey: string; replyText?: string } }) => this.#onReturn(msg.fields));
      this.#broken = false;
      this.#schedule();
    });
    bus.on("down", () => this.#failInFlight());
  }

  /** The lane `name`, created with `options` if new (options are updated if it exists). */
  lane(name: string, options: LaneOptions): Lane {
    let lane = this.#lanes.get(name);
    if (lane) lane.options = options;
    else {
      lane = new Lane(name, options);
      this.#lanes.set(name, lane);
    }
    return lane;
  }

  /** Drops what lane `name` still holds and forgets it (e.g. a dataflow ended). */
  closeLane(name: string): void {
    const lane = this.#lanes.get(name);
    if (!lane) return;
    lane.clear();
    this.#pending.delete(lane);
    this.#lanes.delete(name);
  }

  /** Queues `msg` on `lane`; false when it was dropped because the lane is full. */
  publish(lane: Lane, msg: OutMessage): boolean {
    const ok = lane.push({ msg, seq: ++this.#seq, queuedAt: performance.now() });
    if (ok) {
      this.#pending.add(lane);
      this.#schedule();
    }
    return ok;
  }

  /** Counters of every lane. */
  stats(): LaneStats[] {
    return [...this.#lanes.values()].map((l) => l.stats());
  }

  /** Messages the broker returned as unroutable (no queue bound to their key), per exchange. */
  returned(exchange: string): number {
    return this.#returned.get(exchange) ?? 0;
  }

  /**
   * A `mandatory` message that no queue took: RabbitMQ returns it before it confirms it, so
   * the confirm alone would count it as delivered. Counted per exchange; one warning a minute.
   */
  #onReturn(fields: { exchange: string; routingKey: string; replyText?: string }): void {
    const n = (this.#returned.get(fields.exchange) ?? 0) + 1;
    this.#returned.set(fields.exchange, n);
    const now = performance.now();
    if (now - this.#lastReturnWarn < 60_000) return;
    this.#lastReturnWarn = now;
    log.warn("bus message returned: no queue is bound to its routing key", {
      exchange: fields.exchange, routingKey: fields.routingKey, reply: fields.replyText, returned: n,
    });
  }

  /** Messages written to the channel and not yet confirmed. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    const channel = this.bus.channel;
    if (!channel || this.#waitingDrain || this.#broken) return;
    while (this.#pending.size > 0) {
      for (const lane of this.#pending) {
        if (this.#inFlight.size >= this.#maxInFlight) return;
        const item = lane.shift();
        if (lane.depth === 0) this.#pending.delete(lane);
        if (item && !this.#send(channel, lane, item)) return;
      }
    }
  }

  /** Writes one message; false when the caller must stop (backpressure or a dead channel). */
  #send(channel: ConfirmChannel, lane: Lane, item: Queued): boolean {
    const key = item.seq;
    const sentAt = performance.now();
    this.#inFlight.set(key, { lane, item, sentAt });
    const { msg } = item;
    let writable: boolean;
    try {
      const body = Buffer.isBuffer(msg.body) ? msg.body : Buffer.from(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength);
      writable = channel.publish(msg.exchange, msg.routingKey, body, {
        headers: msg.headers, contentType: msg.contentType, persistent: msg.persistent, messageId: msg.messageId,
        userId: msg.userId, mandatory: true,
        timestamp: Math.floor(Date.now() / 1000),
      }, (err) => this.#settle(key, !err));
    } catch (error) {
      log.warn("bus publish failed", { lane: lane.name, routingKey: msg.routingKey, error });
      this.#broken = true;
      this.#settle(key, false);
      return false;
    }
    lane.published++;
    if (!writable) {
      this.#waitingDrain = true;
      channel.once("drain", () => {
        this.#waitingDrain = false;
        this.#schedule();
      });
      return false;
    }
    return true;
  }

  #settle(key: number, ok: boolean): void {
    const entry = this.#inFlight.get(key);
    if (!entry) return;
    this.#inFlight.delete(key);
    const { lane, item } = entry;
    const now = performance.now();
    this.#onConfirm({ lane: lane.name, ok, totalMs: now - item.queuedAt, confirmMs: now - entry.sentAt });
    if (ok) {
      lane.confirmed++;
      item.msg.onSettled?.(true);
    } else if (lane.options.retry && this.#lanes.get(lane.name) === lane) {
      lane.requeue(item);
      this.#pending.add(lane);
    } else {
      lane.drop(item, "nack");
    }
    this.#schedule();
  }

  /** The connection died: unconfirmed messages are lost (or re-queued on retry lanes). */
  #failInFlight(): void {
    this.#waitingDrain = false;
    for (const key of [...this.#inFlight.keys()].sort((a, b) => a - b)) this.#settle(key, false);
  }

  #registerMetrics(metrics: Metrics): (event: ConfirmEvent) => void {
    const each = (fn: (lane: Lane) => [Record<string, string>, number][]) => (series: Series) => {
      series.clear();
      for (const lane of this.#lanes.values()) for (const [labels, value] of fn(lane)) series.set(labels, value);
    };
    metrics.gauge("vsb_bus_queue_messages", "Messages waiting in each publish lane",
      each((l) => [[{ lane: l.name }, l.depth]]));
    metrics.gauge("vsb_bus_queue_bytes", "Bytes waiting in each publish lane", each((l) => [[{ lane: l.name }, l.bytes]]));
    metrics.counter("vsb_bus_dropped_total", "Messages dropped per lane and reason",
      each((l) => Object.entries(l.dropped).map(([reason, n]) => [{ lane: l.name, reason }, n])));
    metrics.counter("vsb_bus_confirmed_total", "Messages confirmed by the broker per lane",
      each((l) => [[{ lane: l.name }, l.confirmed]]));
    metrics.counter("vsb_bus_returned_total", "Messages published mandatory that the broker returned: no queue bound to their routing key",
      (series) => {
        series.clear();
        for (const [exchange, n] of this.#returned) series.set({ exchange }, n);
      });
    metrics.gauge("vsb_bus_in_flight", "Messages written and not yet confirmed", (s) => s.set(undefined, this.#inFlight.size));
    metrics.gauge("vsb_bus_connected", "1 while the AMQP channel is open", (s) => s.set(undefined, this.bus.connected ? 1 : 0));
    metrics.counter("vsb_bus_connections_total", "AMQP connections made per broker node (host:port); a cluster failover is a connection to another node",
      (series) => {
        series.clear();
        this.bus.urls.forEach((url, i) => series.set({ node: new URL(url).host }, this.bus.connections[i] ?? 0));
      });
    const latency = metrics.histogram("vsb_bus_confirm_seconds", "From publish() to the broker's confirm");
    const ok = latency.with({ outcome: "ok" });
    return (event) => {
      if (event.ok) ok.observe(event.totalMs / 1000);
    };
  }
}
