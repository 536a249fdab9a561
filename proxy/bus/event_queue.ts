/**
 * The queue in which a proxy follows the dataflow events (#14): a quorum queue, so it is
 * replicated (Raft) over the cluster's nodes and outlives the loss of any minority of them,
 * its leader included, where an exclusive classic queue lives and dies with one node (and with
 * the connection that declared it). One queue per proxy process, named uniquely, because every
 * replica must hear every event (replicas sharing one queue would each get a share of them);
 * quorum queues cannot be exclusive or auto-delete, so `x-expires` removes the queue of a proxy
 * that is gone (crashed, or its host lost) once it has had no consumer for that long.
 *
 * https://www.rabbitmq.com/docs/quorum-queues#feature-matrix: quorum queues are never
 * exclusive nor transient, support queue TTL (the lease is not renewed by re-declaring: a
 * consumer is what keeps it alive) and length limits.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Channel } from "amqplib";
import { EVENTS_EXCHANGE, NEW_DATAFLOW, proxyEventQueue, TERMINATE_DATAFLOW } from "../../shared/mod.ts";

/** How long the queue outlives its last consumer: longer than any reconnect, short enough that abandoned queues go. */
export const EVENT_QUEUE_EXPIRES_MS = 300_000;
/** Most events kept while nobody consumes (the oldest are dropped first, broker side). */
export const EVENT_QUEUE_MAX_LENGTH = 10_000;

/** Options of {@link declareEventQueue}; defaults in brackets. */
export interface EventQueueOptions {
  /** `x-expires` [EVENT_QUEUE_EXPIRES_MS]. */
  expiresMs?: number;
  /** `x-max-length` [EVENT_QUEUE_MAX_LENGTH]. */
  maxLength?: number;
}

/** A name unique to this process: host name and 8 random hex digits. */
export function eventQueueName(): string {
  return proxyEventQueue(`${hostname()}.${randomBytes(4).toString("hex")}`);
}

/** The queue's declaration arguments. */
export function eventQueueArguments(options: EventQueueOptions = {}): Record<string, unknown> {
  return {
    "x-queue-type": "quorum",
    "x-expires": options.expiresMs ?? EVENT_QUEUE_EXPIRES_MS,
    "x-max-length": options.maxLength ?? EVENT_QUEUE_MAX_LENGTH,
  };
}

/** Declares `name` (idempotent, on every connect) and binds it to both event keys. */
export async function declareEventQueue(channel: Channel, name: string, options: EventQueueOptions = {}): Promise<void> {
  await channel.assertQueue(name, { durable: true, exclusive: false, autoDelete: false, arguments: eventQueueArguments(options) });
  await channel.bindQueue(name, EVENTS_EXCHANGE, NEW_DATAFLOW);
  await channel.bindQueue(name, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
}
