/**
 * vsb-consume: the consumer CLI (replaces 5GMETA's amqp2video example). Holds a demand lease
 * so the agents send, reads one RabbitMQ message per frame from the `video` exchange, writes
 * Annex-B H.264 to a file or, with `--out -` only, to stdout, and prints per-second statistics
 * on stderr.
 */
import amqp from "amqplib";
import { HEADER, maskUrl, VIDEO_EXCHANGE, videoBindingPattern, videoRoutingKey } from "../shared/mod.ts";
import { consumeHelp, parseConsumeOptions, UsageError, type ConsumeOptions } from "./consumer/consume_options.ts";
import { DemandLeaseHolder } from "./consumer/demand_lease.ts";
import { FrameSink } from "./consumer/frame_sink.ts";
import { FrameStats, formatStats } from "./consumer/frame_stats.ts";
import { fetchTrusting, readText } from "./runtime.ts";

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The CA of `--amqp-ca-file`, read once; a failure is one line naming the file. */
function brokerCa(opts: ConsumeOptions): string[] | undefined {
  if (!opts.amqpCaFile) return undefined;
  try {
    return [readText(opts.amqpCaFile)];
  } catch (err) {
    throw new Error(`--amqp-ca-file "${opts.amqpCaFile}" could not be read: ${(err as Error).message}`);
  }
}

/** One AMQP connection to `url`; a failure is one line naming the URL (masked) and the CA file. */
async function connectBroker(opts: ConsumeOptions, url: string, ca: string[] | undefined): Promise<amqp.ChannelModel> {
  try {
    return await amqp.connect(url, ca ? { ca } : {});
  } catch (err) {
    const trust = opts.amqpCaFile ? ` (CA file "${opts.amqpCaFile}")` : "";
    throw new Error(`connecting to "${maskUrl(url)}"${trust} failed: ${(err as Error).message}`);
  }
}

/**
 * Connects to the first node of `--amqp-url` that answers, declares this consumer's queue
 * (exclusive, capped) bound to what it watches, and consumes into `onMessage`. Returns the
 * connection; throws the last node's one-line error when none answers.
 */
async function subscribe(opts: ConsumeOptions, ca: string[] | undefined, first: number, onMessage: (msg: amqp.ConsumeMessage | null) => void) {
  let last: Error | undefined;
  for (let k = 0; k < opts.amqpUrl.length; k++) {
    const node = (first + k) % opts.amqpUrl.length;
    let connection: amqp.ChannelModel | undefined;
    try {
      connection = await connectBroker(opts, opts.amqpUrl[node]!, ca);
      const channel = await connection.createChannel();
      await channel.assertExchange(VIDEO_EXCHANGE, "topic", { durable: true });
      // An exclusive queue that the broker caps, so a stalled consumer cannot fill RabbitMQ.
      const { queue } = await channel.assertQueue("", { exclusive: true, autoDelete: true, arguments: { "x-max-length": 600 } });
      const pattern = opts.dataflow !== undefined ? videoRoutingKey("*", opts.dataflow) : videoBindingPattern("*");
      await channel.bindQueue(queue, VIDEO_EXCHANGE, pattern);
      await channel.consume(queue, onMessage, { noAck: true });
      return { connection, node };
    } catch (err) {
      await connection?.close().catch(() => undefined);
      last = err as Error;
    }
  }
  throw last!;
}

/** `fetch` for the proxy's API, trusting `--api-ca-file` when given. */
function apiFetch(opts: ConsumeOptions): typeof fetch | undefined {
  if (!opts.apiCaFile) return undefined;
  try {
    return fetchTrusting(readText(opts.apiCaFile));
  } catch (err) {
    throw new Error(`--api-ca-file "${opts.apiCaFile}" could not be read: ${(err as Error).message}`);
  }
}

async function run(opts: ConsumeOptions): Promise<number> {
  const lease = opts.noDemand ? null : new DemandLeaseHolder(opts.apiUrl, {
    dataflowId: opts.dataflow,
    quadkey: opts.quadkey,
    ttlSeconds: opts.leaseSeconds,
  }, { token: opts.apiToken, fetch: apiFetch(opts), onError: (err) => say(`demand lease renewal failed: ${err.message}`) });

  const ca = brokerCa(opts);
  const sink = new FrameSink({ out: opts.out });
  const stats = new FrameStats();
  let finish!: (code: number) => void;
  let finished = false;
  const done = new Promise<number>((resolve) => (finish = (code) => {
    finished = true;
    resolve(code);
  }));
  const onMessage = (msg: amqp.ConsumeMessage | null) => {
    if (!msg) return finish(1); // the broker cancelled us (queue deleted)
    const h = msg.properties.headers ?? {};
    const quadkey = String(h[HEADER.locationQuadkey] ?? "");
    if (opts.quadkey && !quadkey.startsWith(opts.quadkey)) return;
    const id = Number(h[HEADER.sourceId]);
    const keyframe = h[HEADER.keyframe] === true;
    if (opts.frames && sink.written >= opts.frames) return; // done; the rest is not ours
    try {
      sink.write(id, msg.content, keyframe);
    } catch (err) {
      say((err as Error).message);
      return finish(1);
    }
    stats.add({
      dataflowId: id,
      seq: Number(h[HEADER.seq]),
      bytes: msg.content.length,
      keyframe,
      latencyMs: Date.now() - Number(h[HEADER.receiveTime]),
    });
    if (opts.frames && sink.written >= opts.frames) finish(0);
  };

  let current = await subscribe(opts, ca, 0, onMessage);
  // With the nodes of a cluster, a lost connection moves to the next node that answers, and every
  // dataflow's output goes on from its next keyframe (what was queued on the lost node is gone).
  const follow = (connection: amqp.ChannelModel) => connection.on("error", () => undefined).on("close", () => {
    if (finished || current.connection !== connection) return;
    if (opts.amqpUrl.length < 2) return finish(1);
    say(`lost "${maskUrl(opts.amqpUrl[current.node]!)}"; resuming on the next node from each dataflow's next keyframe`);
    sink.resync();
    void (async () => {
      while (!finished) {
        try {
          current = await subscribe(opts, ca, current.node + 1, onMessage);
          say(`consuming from "${maskUrl(opts.amqpUrl[current.node]!)}"`);
          follow(current.connection);
          return;
        } catch (err) {
          say(`no node answers yet: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
  });
  follow(current.connection);
  if (lease) {
    let held;
    try {
      held = await lease.start();
    } catch (err) {
      await current.connection.close().catch(() => undefined); // or the open connection keeps the process alive
      throw err;
    }
    say(`holding demand lease ${held.id} until stopped (renewed every ${Math.round(opts.leaseSeconds / 3)} s)`);
  }
  if (!sink.out) say("no --out given: frames are written nowhere, statistics only (--out FILE or --out - to keep them)");
  const started = Date.now();

  const ticker = setInterval(() => {
    if (opts.quiet) return;
    const line = stats.take(1000);
    say(opts.json ? JSON.stringify({ t: new Date().toISOString(), ...line }) : formatStats(line));
  }, 1000);
  const timer = opts.seconds ? setTimeout(() => finish(0), opts.seconds * 1000) : null;
  const onSignal = () => finish(0);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const code = await done;
  clearInterval(ticker);
  if (timer) clearTimeout(timer);
  await lease?.release();
  await sink.close();
  await current.connection.close().catch(() => undefined);
  const secs = (Date.now() - started) / 1000;
  const skipped = sink.skipped ? `, ${sink.skipped} not written as they came before the first keyframe` : "";
  const where = sink.out === "-" ? "stdout" : sink.out ?? "nowhere";
  say(`received ${stats.totalFrames} frames in ${secs.toFixed(1)} s, ${stats.totalGaps} missing; wrote ${sink.written} to ${where}${skipped}`);
  return code;
}

async function main(): Promise<void> {
  let opts: ConsumeOptions | null;
  try {
    opts = parseConsumeOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    say(`vsb-consume: ${err.message}`);
    process.exit(2);
  }
  if (!opts) {
    process.stdout.write(`${consumeHelp()}\n`);
    return;
  }
  // H.264 on a terminal is garbage at best and control sequences at worst.
  if (opts.out === "-" && process.stdout.isTTY === true) {
    say(`vsb-consume: --out "-": stdout is a terminal; pipe it into a decoder (| ffplay -f h264 -) or give a file`);
    process.exit(2);
  }
  try {
    process.exitCode = await run(opts);
  } catch (err) {
    say(`vsb-consume: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

if (import.meta.main) await main();
