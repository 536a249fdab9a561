/**
 * One bounded publish queue. Each producer (the events announcer, each dataflow's frames)
 * has its own lane, so that one stalled or flooding stream can only fill and drop within
 * its own bounds (messages and bytes), and every drop is counted by reason.
 */

/** A message to publish. */
export interface OutMessage {
  exchange: string;
  routingKey: string;
  body: Uint8Array;
  headers?: Record<string, unknown>;
  contentType?: string;
  /** Delivery mode 2 (survives a broker restart in durable queues) [false]. */
  persistent?: boolean;
  /** AMQP `message-id` property [none]. */
  messageId?: string;
  /**
   * AMQP `user-id` property [none]: RabbitMQ refuses the message unless it names the connection's
   * own user ("validated user-id"), so a consumer can trust it (the proxy's events and control).
   */
  userId?: string;
  /** Called once with the outcome: confirmed by the broker, or dropped (with why) or nacked. */
  onSettled?: (ok: boolean, reason?: DropReason) => void;
}

/** What to do when a lane is full. */
export type Overflow = "drop-newest" | "drop-oldest";

/** Bounds and behaviour of a lane; defaults in brackets. */
export interface LaneOptions {
  maxMessages: number;
  maxBytes: number;
  /** `drop-newest` refuses the new message, `drop-oldest` evicts the head ["drop-newest"]. */
  overflow?: Overflow;
  /** Re-queue messages whose publish failed (connection lost, nack) instead of dropping them [false]. */
  retry?: boolean;
}

/**
 * Reasons a message can be dropped: no room, nacked or lost with the connection, lane closed,
 * or discarded by its producer because a message before it was lost (`dropWhile`).
 */
export type DropReason = "overflow" | "nack" | "closed" | "after-loss";

/** A queued message with its bookkeeping. */
export interface Queued {
  msg: OutMessage;
  seq: number;
  queuedAt: number;
}

/** Counters of one lane. */
export interface LaneStats {
  name: string;
  depth: number;
  bytes: number;
  published: number;
  confirmed: number;
  dropped: Record<DropReason, number>;
}

/** A bounded FIFO with drop counters. */
export class Lane {
  readonly #items: Queued[] = [];
  #head = 0;
  #bytes = 0;
  published = 0;
  confirmed = 0;
  readonly dropped: Record<DropReason, number> = { overflow: 0, nack: 0, closed: 0, "after-loss": 0 };

  constructor(readonly name: string, public options: LaneOptions) {}

  /** Messages waiting. */
  get depth(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  #fits(size: number): boolean {
    return this.depth < this.options.maxMessages && this.#bytes + size <= this.options.maxBytes;
  }

  /** Queues `item`; false when the lane refused it (counted as an overflow drop). */
  push(item: Queued): boolean {
    const size = item.msg.body.byteLength;
    if (this.options.overflow === "drop-oldest") {
      while (this.depth > 0 && !this.#fits(size)) this.drop(this.shift()!, "overflow");
    }
    if (!this.#fits(size)) {
      this.drop(item, "overflow");
      return false;
    }
    this.#items.push(item);
    this.#bytes += size;
    return true;
  }

  /** The oldest message, removed from the lane. */
  shift(): Queued | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as Queued;
    this.#head++;
    // Compact now and then instead of Array#shift on every message (O(n) each).
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    this.#bytes -= item.msg.body.byteLength;
    return item;
  }

  /** Puts a failed message back in publish order (retry lanes), or drops it when full. */
  requeue(item: Queued): void {
    const size = item.msg.body.byteLength;
    if (!this.#fits(size)) {
      this.drop(item, "overflow");
      return;
    }
    let at = this.#head;
    while (at < this.#items.length && this.#items[at]!.seq < item.seq) at++;
    this.#items.splice(at, 0, item);
    this.#bytes += size;
  }

  /** Counts a drop and tells the producer. */
  drop(item: Queued, reason: DropReason): void {
    this.dropped[reason]++;
    item.msg.onSettled?.(false, reason);
  }

  /** Drops messages from the head while `test` holds for them (counted as `reason`); how many. */
  dropWhile(test: (msg: OutMessage) => boolean, reason: DropReason): number {
    let n = 0;
    while (this.depth > 0 && test(this.#items[this.#head]!.msg)) {
      this.drop(this.shift()!, reason);
      n++;
    }
    return n;
  }

  /** Drops everything still queued (lane closed). */
  clear(): void {
    for (let item = this.shift(); item; item = this.shift()) this.drop(item, "closed");
  }

  /** A snapshot of the counters. */
  stats(): LaneStats {
    return {
      name: this.name, depth: this.depth, bytes: this.#bytes,
      published: this.published, confirmed: this.confirmed, dropped: { ...this.dropped },
    };
  }
}
