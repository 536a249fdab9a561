/**
 * Frames of dataflows ingested on another replica, taken from RabbitMQ (issue #13 item 3): the
 * owner publishes every access unit on the `video` exchange anyway (bus_frame_output.ts), so a
 * replica whose viewers want a dataflow it does not ingest binds a queue of its own to that
 * dataflow's routing key and turns the messages back into access units for the same outputs
 * the local stream feeds (the WHEP hub):
 *
 *   owner ─► `video` exchange ─► vsb-proxy.whep.{id}.{rand} (exclusive, auto-delete,
 *            x-max-length, drop-head) ─► own channel, prefetch ─► BusGapGuard ─► FrameOutputs
 *
 * One queue per followed dataflow, whatever its viewers' number, on a channel of its own (a
 * channel error closes only it); it is deleted when the last output goes. The queue's bound is
 * the broker's: a replica that falls behind loses its oldest frames there, seen here as `seq`
 * jumps (counted) after which frames wait for the next keyframe. Re-subscribed after a broker
 * reconnect. No keyframe can be asked of the owner (its publisher's PLI is on another host): a
 * new viewer starts at the next keyframe in the stream.
 */
import { randomUUID } from "node:crypto";
import type { Channel, ConsumeMessage } from "amqplib";
import { VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import type { BusConnection } from "../bus/bus_connection.ts";
import type { Logger } from "../log.ts";
import type { FrameOutput, StreamContext } from "../stream/frame_output.ts";
import { BusGapGuard, unitOfMessage } from "./bus_unit.ts";

/** Options of {@link BusFrameSource}; each field documents its default. */
export interface BusFrameSourceOptions {
  bus: Pick<BusConnection, "openChannel" | "on">;
  log: Logger;
  /** x-max-length of each queue: frames the broker holds for this replica. Default 120 (4 s at 30 fps). */
  maxFrames?: number;
  /** x-max-length-bytes of each queue. Default 16 MiB. */
  maxBytes?: number;
  /** Unacknowledged frames on the way to this process at most (channel prefetch). Default 32. */
  prefetch?: number;
}

/** Counters over every followed dataflow since start. */
export interface BusSourceCounters {
  frames: number;
  bytes: number;
  /** Frame numbers that never arrived (see BusGapGuard), frames held until a keyframe, messages without usable frame headers. */
  dropped: { missing: number; "to-keyframe": number; malformed: number };
  /** Queues that could not be declared, bound or consumed (retried at the next broker connect). */
  subscribeErrors: number;
}

interface Follow {
  readonly dataflowId: number;
  readonly outputs: Set<FrameOutput>;
  readonly guard: BusGapGuard;
  readonly ctx: StreamContext;
  channel?: Channel;
  queue?: string;
  opening?: Promise<void>;
  closed: boolean;
}

/** The dataflows this replica follows from RabbitMQ; see the file comment. */
export class BusFrameSource {
  readonly counters: BusSourceCounters = { frames: 0, bytes: 0, dropped: { missing: 0, "to-keyframe": 0, malformed: 0 }, subscribeErrors: 0 };
  private readonly follows = new Map<number, Follow>();
  private readonly closing = new Set<Promise<void>>();
  private readonly offUp: () => void;

  constructor(private readonly options: BusFrameSourceOptions) {
    this.offUp = options.bus.on("up", () => {
      for (const follow of this.follows.values()) if (!follow.channel) this.open(follow);
    });
  }

  /** Dataflows followed now (one queue each). */
  get size(): number {
    return this.follows.size;
  }

  /** The queue of dataflow `id`, while it is followed and subscribed (for tests). */
  queueOf(dataflowId: number): string | undefined {
    return this.follows.get(dataflowId)?.queue;
  }

  /** Feeds `output` the frames of `dataflowId` from RabbitMQ until the returned remover is called. */
  addOutput(dataflowId: number, output: FrameOutput): () => void {
    let follow = this.follows.get(dataflowId);
    if (!follow) {
      follow = { dataflowId, outputs: new Set(), guard: new BusGapGuard(), ctx: { dataflowId, sessionId: "bus" }, closed: false };
      this.follows.set(dataflowId, follow);
      this.open(follow);
    }
    const f = follow;
    f.outputs.add(output);
    return () => {
      if (!f.outputs.delete(output)) return;
      output.close?.();
      if (f.outputs.size === 0) this.unfollow(f);
    };
  }

  /**
   * Deletes every queue; resolves when the broker answered, the channels are gone, or after
   * `withinMs` (a broker that stopped answering must not hold up the proxy's stop; the exclusive
   * queues go with the connection anyway).
   */
  async close(withinMs = 2000): Promise<void> {
    this.offUp();
    for (const follow of [...this.follows.values()]) this.unfollow(follow);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs)));
    const done = (async () => {
      while (this.closing.size > 0) await Promise.all([...this.closing]);
    })();
    await Promise.race([done, late]);
    clearTimeout(timer);
  }

  private open(follow: Follow): void {
    if (follow.opening || follow.closed) return;
    follow.opening = this.subscribe(follow).catch((error) => {
      this.counters.subscribeErrors++;
      this.options.log.warn("bus frame queue not subscribed", { dataflowId: follow.dataflowId, error });
    }).finally(() => (follow.opening = undefined));
  }

  private async subscribe(follow: Follow): Promise<void> {
    const channel = await this.options.bus.openChannel();
    if (!channel) return; // not connected: the next "up" subscribes
    if (follow.closed) return void (await channel.close().catch(() => undefined));
    channel.on("error", (error: Error) => this.options.log.warn("bus frame channel errored", { dataflowId: follow.dataflowId, error }));
    channel.on("close", () => {
      if (follow.channel !== channel) return;
      follow.channel = undefined;
      follow.queue = undefined;
    });
    const queue = `vsb-proxy.whep.${follow.dataflowId}.${randomUUID().slice(0, 8)}`;
    await channel.prefetch(this.options.prefetch ?? 32);
    await channel.assertQueue(queue, {
      exclusive: true, autoDelete: true, durable: false,
      arguments: { "x-max-length": this.options.maxFrames ?? 120, "x-max-length-bytes": this.options.maxBytes ?? 16 * 1024 * 1024, "x-overflow": "drop-head" },
    });
    await channel.bindQueue(queue, VIDEO_EXCHANGE, videoRoutingKey("*", follow.dataflowId));
    follow.guard.resync();
    follow.channel = channel;
    follow.queue = queue;
    await channel.consume(queue, (msg) => this.onMessage(follow, channel, msg), { noAck: false });
    this.options.log.info("bus frame queue subscribed", { dataflowId: follow.dataflowId, queue });
    if (follow.closed) await this.teardown(follow, channel, queue);
  }

  private onMessage(follow: Follow, channel: Channel, msg: ConsumeMessage | null): void {
    if (!msg) { // the broker cancelled us (queue deleted by an operator): subscribe again
      if (follow.channel === channel) follow.channel = undefined;
      void channel.close().catch(() => undefined);
      if (!follow.closed) this.open(follow);
      return;
    }
    channel.ack(msg);
    if (follow.closed) return;
    const unit = unitOfMessage(msg.content, msg.properties.headers ?? {});
    if (!unit) return void this.counters.dropped.malformed++;
    const before = follow.guard.missing;
    const admitted = follow.guard.admit(unit);
    this.counters.dropped.missing += follow.guard.missing - before;
    if (!admitted) return void this.counters.dropped["to-keyframe"]++;
    this.counters.frames++;
    this.counters.bytes += unit.data.length;
    for (const output of follow.outputs) {
      try {
        output.push(unit, follow.ctx); // "keyframe" cannot be asked of the owner: ignored
      } catch (error) {
        this.options.log.error("frame output failed", { dataflowId: follow.dataflowId, output: output.name, error });
      }
    }
  }

  private unfollow(follow: Follow): void {
    if (this.follows.get(follow.dataflowId) !== follow) return;
    this.follows.delete(follow.dataflowId);
    follow.closed = true;
    for (const output of follow.outputs) output.close?.();
    follow.outputs.clear();
    const done = (async () => {
      await follow.opening;
      if (follow.channel && follow.queue) await this.teardown(follow, follow.channel, follow.queue);
    })();
    this.closing.add(done);
    void done.finally(() => this.closing.delete(done));
  }

  /** Deletes the queue and closes its channel; a broker that is gone took both already. */
  private async teardown(follow: Follow, channel: Channel, queue: string): Promise<void> {
    follow.channel = undefined;
    follow.queue = undefined;
    try {
      await channel.deleteQueue(queue);
      await channel.close();
      this.options.log.info("bus frame queue deleted", { dataflowId: follow.dataflowId, queue });
    } catch (error) {
      this.options.log.debug("bus frame queue not deleted (its channel is gone, and with it the exclusive queue)", { dataflowId: follow.dataflowId, queue, error });
    }
  }
}
