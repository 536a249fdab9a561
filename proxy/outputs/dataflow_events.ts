/**
 * Listens to `newdataflow`/`terminatedataflow` on `amq.topic` (5GMETA steps 7 and 9), whoever
 * sent them: the agents over MQTT (their last will too) and this proxy itself. Each event is
 * logged and remembered per dataflow, so an operator sees in `/metrics` and the log what the
 * bus said, next to what the registry and the media path know; the ingest asks it whether a
 * session's end was already announced before announcing one itself (`terminationsSince`).
 */
import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import { DataflowEventSchema, EVENTS_EXCHANGE, NEW_DATAFLOW, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import type { BusConnection } from "../bus/bus_connection.ts";
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

/** Follows the dataflow events on the bus; see the file comment. */
export class DataflowEvents {
  /** Events heard, by routing key; `invalid` counts bodies that were not a dataflow event. */
  readonly counts: Record<string, number> = { [NEW_DATAFLOW]: 0, [TERMINATE_DATAFLOW]: 0, invalid: 0 };
  /** The last event per dataflow id. */
  readonly last = new Map<number, HeardEvent>();
  private readonly terminations = new Map<number, HeardTermination[]>();
  private readonly off: () => void;

  constructor(bus: BusConnection, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.off = bus.on("up", (channel) => {
      this.listen(channel).catch((error) => log.warn("dataflow event consumer failed", { error }));
    });
  }

  /** Declares an exclusive queue bound to both keys and consumes it (after every reconnect). */
  private async listen(channel: ConfirmChannel): Promise<void> {
    const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true, arguments: { "x-max-length": 10_000 } });
    await channel.bindQueue(queue, EVENTS_EXCHANGE, NEW_DATAFLOW);
    await channel.bindQueue(queue, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
    await channel.consume(queue, (msg) => msg && this.heard(msg), { noAck: true });
    this.log.info("dataflow events followed", { exchange: EVENTS_EXCHANGE, keys: [NEW_DATAFLOW, TERMINATE_DATAFLOW] });
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

  /** Stops following (the consumer goes with the connection). */
  close(): void {
    this.off();
  }
}
