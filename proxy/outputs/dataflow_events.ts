/**
 * Listens to `newdataflow`/`terminatedataflow` on `amq.topic` (5GMETA steps 7 and 9), whoever
 * sent them: the agents over MQTT (their last will too) and this proxy itself. Each event is
 * logged and remembered per dataflow, so an operator sees in `/metrics` and the log what the
 * bus said, next to what the registry and the media path know; the ingest asks it whether a
 * session's end was already announced before announcing one itself (`terminationsSince`).
 *
 * The events wait in this process's own quorum queue (`bus/event_queue.ts`), which outlives the
 * loss of a cluster node and the proxy's reconnects: an event published while the proxy moves
 * to another node is heard once it consumes again. It consumes on a channel of its own (a
 * consumer error must not close the frames' publishing channel), with acknowledgements, so an
 * event in flight when a connection dies is delivered again (at least once).
 */
import type { Channel, ConsumeMessage } from "amqplib";
import { DataflowEventSchema, EVENTS_EXCHANGE, NEW_DATAFLOW, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import type { BusConnection } from "../bus/bus_connection.ts";
import { declareEventQueue, eventQueueName, type EventQueueOptions } from "../bus/event_queue.ts";
import type { Logger } from "../log.ts";

/** The last event heard for one dataflow. */
export interface HeardEvent {
  event: typeof NEW_DATAFLOW | typeof TERMINATE_DATAFLOW;
  atMs: number;
  reason?: string;
}

/** One `terminatedataflow` heard. */
export interface HeardTermination {
  atMs: number;
  /** The AMQP message-id, when the publisher set one (this proxy does; MQTT agents do not). */
  messageId?: string;
}

/** Most dataflows remembered; the oldest are forgotten first. */
const MAX_REMEMBERED = 10_000;
/** `terminatedataflow`s remembered per dataflow (a few sessions' worth). */
const MAX_TERMINATIONS = 8;

/** Unacknowledged events delivered at once. */
const PREFETCH = 100;
/** Delay before consuming again after the consumer's channel failed while the connection held. */
/** How long close() waits for the broker to delete the queue. */
const CLOSE_TIMEOUT_MS = 2000;
const RETRY_MS = 1000;

/** Options of {@link DataflowEvents}; defaults in brackets. */
export interface DataflowEventsOptions extends EventQueueOptions {
  /** Clock [Date.now]. */
  now?: () => number;
  /** The queue's name [eventQueueName(): host name and random digits]. */
  queue?: string;
}

/** Follows the dataflow events on the bus; see the file comment. */
export class DataflowEvents {
  /** Events heard, by routing key; `invalid` counts bodies that were not a dataflow event. */
  readonly counts: Record<string, number> = { [NEW_DATAFLOW]: 0, [TERMINATE_DATAFLOW]: 0, invalid: 0 };
  /** The last event per dataflow id. */
  readonly last = new Map<number, HeardEvent>();
  /** This process's event queue. */
  readonly queue: string;
  private readonly terminations = new Map<number, HeardTermination[]>();
  private readonly off: () => void;
  private readonly now: () => number;
  private channel?: Channel;
  private following = false;
  private closed = false;
  private retryTimer?: ReturnType<typeof setTimeout>;

  constructor(private readonly bus: BusConnection, private readonly log: Logger, private readonly options: DataflowEventsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.queue = options.queue ?? eventQueueName();
    this.off = bus.on("up", () => void this.follow());
  }

  /** Declares the queue (idempotent) and consumes it on a channel of its own; again after every reconnect. */
  private async follow(): Promise<void> {
    if (this.closed || this.following || this.channel) return;
    this.following = true;
    let channel: Channel | undefined;
    try {
      channel = await this.bus.openChannel();
      if (!channel) return;
      const mine = channel;
      mine.on("error", (error: Error) => this.log.warn("dataflow event channel errored", { queue: this.queue, error }));
      mine.on("close", () => this.lost(mine));
      await declareEventQueue(mine, this.queue, this.options);
      await mine.prefetch(PREFETCH);
      await mine.consume(this.queue, (msg) => {
        if (!msg) return void this.cancelled(mine); // the broker cancelled the consumer (queue deleted)
        this.heard(msg);
        try {
          mine.ack(msg);
        } catch (error) {
          this.log.debug("dataflow event not acknowledged", { error }); // channel gone: it comes again
        }
      });
      if (this.closed) return void mine.close().catch(() => undefined);
      this.channel = mine;
      this.log.info("dataflow events followed", { exchange: EVENTS_EXCHANGE, keys: [NEW_DATAFLOW, TERMINATE_DATAFLOW], queue: this.queue });
    } catch (error) {
      this.log.warn("dataflow event consumer failed", { queue: this.queue, error });
      channel?.close().catch(() => undefined);
      this.retryLater();
    } finally {
      this.following = false;
    }
  }

  private lost(channel: Channel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    this.retryLater(); // only the channel failed; when the connection went, its next "up" follows again
  }

  private cancelled(channel: Channel): void {
    if (this.closed) return; // close() deleted the queue itself
    this.log.warn("dataflow event consumer cancelled", { queue: this.queue });
    channel.close().catch(() => undefined);
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.bus.connected) void this.follow();
    }, RETRY_MS);
  }

  private heard(msg: ConsumeMessage): void {
    const key = msg.fields.routingKey as HeardEvent["event"];
    let body: unknown;
    try {
      body = JSON.parse(msg.content.toString("utf8"));
    } catch {
      body = undefined;
    }
    const parsed = DataflowEventSchema.safeParse(body);
    if (!parsed.success) {
      this.counts.invalid!++;
      if (this.counts.invalid! <= 5) this.log.warn("dataflow event ignored", { routingKey: key, bytes: msg.content.length });
      return;
    }
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    const { id, reason } = parsed.data;
    const atMs = this.now();
    this.last.delete(id);
    this.last.set(id, { event: key, atMs, reason });
    if (this.last.size > MAX_REMEMBERED) this.last.delete(this.last.keys().next().value!);
    if (key === TERMINATE_DATAFLOW) this.rememberTermination(id, { atMs, messageId: msg.properties.messageId || undefined });
    this.log.info("dataflow event heard", { id, event: key, reason });
  }

  /** The last event heard for `id`, if any. */
  lastEvent(id: number): HeardEvent | undefined {
    return this.last.get(id);
  }

  /** The `terminatedataflow`s heard for `id` at or after `sinceMs` (ms since the epoch), oldest first. */
  terminationsSince(id: number, sinceMs: number): HeardTermination[] {
    return (this.terminations.get(id) ?? []).filter((t) => t.atMs >= sinceMs);
  }

  private rememberTermination(id: number, heard: HeardTermination): void {
    const list = this.terminations.get(id) ?? [];
    this.terminations.delete(id);
    list.push(heard);
    if (list.length > MAX_TERMINATIONS) list.shift();
    this.terminations.set(id, list);
    if (this.terminations.size > MAX_REMEMBERED) this.terminations.delete(this.terminations.keys().next().value!);
  }

  /** Stops following and deletes the queue (nobody will consume it again; `x-expires` is for a proxy that could not say so). */
  async close(): Promise<void> {
    this.closed = true;
    this.off();
    clearTimeout(this.retryTimer);
    const channel = this.channel;
    this.channel = undefined;
    if (!channel) return;
    // Bounded: a broker that is gone or does not answer must not hold up the proxy's stop
    // (the queue's x-expires removes it then).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from the broker in ${CLOSE_TIMEOUT_MS} ms`)), CLOSE_TIMEOUT_MS);
    });
    try {
      await Promise.race([(async () => {
        await channel.deleteQueue(this.queue);
        await channel.close();
      })(), late]);
    } catch (error) {
      this.log.warn("dataflow event queue not deleted", { queue: this.queue, error });
    } finally {
      clearTimeout(timer);
    }
  }
}
