/**
 * The proxy's ONE long-lived AMQP connection and confirm channel. It connects in the
 * background, re-connects with capped exponential backoff whenever RabbitMQ is down at
 * start or goes away later, and never throws into the caller: the API keeps answering
 * and `/ready` reports `connected === false` meanwhile.
 *
 * Given the nodes of a cluster, it is connected to one at a time and moves on to the next
 * (round robin) when that one fails or is lost, so publishing resumes on another node within
 * a backoff step (250 ms after a loss); exchanges and the setup's queues are declared again,
 * idempotently, on every connect.
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from "amqplib";
import { maskUrl, VIDEO_EXCHANGE } from "../../shared/mod.ts";
import { logger } from "../log.ts";
import { Emitter } from "../registry/emitter.ts";
import { coalesceWrites } from "./coalesce_writes.ts";

const log = logger("bus");

/** Options of {@link BusConnection}; defaults in brackets. */
export interface BusConnectionOptions {
  /** `amqp://user:pass@host:port/vhost`, or `amqps://` for TLS. */
  url?: string;
  /** The nodes of a cluster, tried in turn (instead of `url`). */
  urls?: string[];
  /** TLS socket options for amqps: CA certificates (PEM) instead of the system's, client certificate and key. */
  tls?: { ca?: string[]; cert?: string; key?: string };
  /** Where `tls.ca` came from, named in the log when a connection fails (e.g. a wrong CA). */
  caFile?: string;
  /** First retry delay [250]. */
  minBackoffMs?: number;
  /** Longest retry delay [2000]: low so publishing resumes within seconds of the broker's return. */
  maxBackoffMs?: number;
  /** Extra declarations after each (re)connect, e.g. consumers' queues. */
  setup?: (channel: ConfirmChannel) => Promise<void>;
}

/** What the connection announces. */
export interface BusEvents {
  up: ConfirmChannel;
  down: { error?: Error };
}

/**
 * `url` with a 10 s heartbeat unless it sets one: RabbitMQ suggests 60 s, which would let a
 * silently dead link (no RST) hold frames for two minutes before the reconnect starts.
 */
export function withHeartbeat(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has("heartbeat")) u.searchParams.set("heartbeat", "10");
  return u.toString();
}

/** The connection; call `start()` once, `stop()` at shutdown. */
export class BusConnection extends Emitter<BusEvents> {
  readonly #o: Required<Omit<BusConnectionOptions, "setup" | "tls" | "caFile" | "url" | "urls">> & Pick<BusConnectionOptions, "setup" | "tls" | "caFile">;
  readonly #urls: string[];
  /** Index in #urls of the node connected to, or tried next. */
  #node = 0;
  /** Connections made per node (index), for `vsb_bus_connections_total`. */
  readonly connections: number[];
  #model?: ChannelModel;
  #channel?: ConfirmChannel;
  #attempt = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #stopped = true;

  constructor(options: BusConnectionOptions) {
    super();
    const { url, urls, ...rest } = options;
    this.#urls = urls?.length ? [...urls] : url ? [url] : [];
    if (this.#urls.length === 0) throw new Error("BusConnection needs a url or urls");
    this.connections = this.#urls.map(() => 0);
    this.#o = { minBackoffMs: 250, maxBackoffMs: 2000, ...rest };
  }

  /** The URL of the node connected to (or tried next). */
  get url(): string {
    return this.#urls[this.#node]!;
  }

  /** Every node's URL, in the order they are tried. */
  get urls(): readonly string[] {
    return this.#urls;
  }

  /** The next node takes the following attempt. */
  #nextNode(): void {
    this.#node = (this.#node + 1) % this.#urls.length;
  }

  /** The confirm channel while connected. */
  get channel(): ConfirmChannel | undefined {
    return this.#channel;
  }

  /**
   * Another channel on the connection, for a consumer whose channel errors must not close the
   * publishing channel; undefined while disconnected. It closes with the connection.
   */
  async openChannel(): Promise<Channel | undefined> {
    return await this.#model?.createChannel();
  }

  /** True while the channel is open and the exchanges are declared. */
  get connected(): boolean {
    return this.#channel !== undefined;
  }

  /** Starts connecting in the background. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#connect();
  }

  /** Resolves true once connected, false after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      const off = this.on("up", () => {
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    this.#attempt++;
    let model: ChannelModel | undefined;
    const url = this.url;
    try {
      model = await amqp.connect(withHeartbeat(url), { clientProperties: { connection_name: "vsb-proxy" }, timeout: 5000, ...this.#o.tls });
      if (!coalesceWrites(model)) log.debug("amqplib internals differ: each frame is its own socket write");
      model.on("error", (error: Error) => log.warn("bus connection errored", { error }));
      model.on("close", () => this.#lost(model!, undefined));
      const channel = await model.createConfirmChannel();
      channel.on("error", (error: Error) => log.warn("bus channel errored", { error }));
      channel.on("close", () => this.#lost(model!, undefined));
      await channel.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
      await this.#o.setup?.(channel);
      if (this.#stopped) {
        await model.close().catch(() => undefined);
        return;
      }
      this.#model = model;
      this.#channel = channel;
      this.connections[this.#node]!++;
      log.info("bus connected", { url: maskUrl(url), node: this.#node, attempts: this.#attempt });
      this.#attempt = 0;
      this.emit("up", channel);
    } catch (error) {
      if (model) await model.close().catch(() => undefined);
      // One line at the first failure and then every 30th, so an absent broker does not flood the log.
      if (this.#attempt === 1 || this.#attempt % 30 === 0) {
        log.warn("bus connect failed", { url: maskUrl(url), caFile: this.#o.caFile, attempt: this.#attempt, error });
      }
      this.#nextNode();
      this.#retry();
    }
  }

  #retry(): void {
    if (this.#stopped || this.#timer) return;
    const base = Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** Math.min(this.#attempt, 16));
    const delay = Math.round(base * (0.8 + Math.random() * 0.2));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }

  #lost(model: ChannelModel, error: Error | undefined): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    this.#channel = undefined;
    log.warn("bus disconnected", { url: maskUrl(this.url), node: this.#node });
    this.#nextNode();
    model.close().catch(() => undefined);
    this.emit("down", { error });
    this.#retry();
  }

  /** Closes the connection and stops re-connecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const model = this.#model;
    this.#model = undefined;
    this.#channel = undefined;
    if (model) await closeWithin(model, STOP_TIMEOUT_MS);
  }
}

/** How long stop() waits for the broker's close-ok before it drops the socket. */
const STOP_TIMEOUT_MS = 2000;

/**
 * Closes `model`, or destroys its socket when the broker does not answer in `ms` (a node that
 * died under an open connection): a proxy's stop must not hang on it.
 */
async function closeWithin(model: ChannelModel, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), ms)));
  const outcome = await Promise.race([model.close().then(() => "closed" as const, () => "closed" as const), late]);
  clearTimeout(timer);
  if (outcome === "late") {
    (model as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
    log.warn("broker connection dropped: no close-ok in time", { ms });
  }
}
