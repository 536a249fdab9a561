/**
 * Every dataflow's {@link DataflowStream}, the SinkFactory the WHIP ingest calls per session,
 * and the door for other outputs: `addOutput` (any {@link FrameOutput}), `subscribe` and
 * `requestKeyframe` (the `UnitSource` WHEP playback reads), `statsOf` (the `stats` of
 * `GET /dataflows`). Each stream gets a RabbitMQ output ({@link BusFrameOutput}) of its own.
 * A stream and its outputs are one piece of the dataflow's owner (proxy/stream/dataflow_owners.ts):
 * they go when the owner ends the dataflow, not on an "ended" listener of their own.
 */
import type { Publisher } from "../bus/publisher.ts";
import type { SessionInfo, SessionSink, SinkFactory } from "../ingest/ingest_types.ts";
import type { Logger } from "../log.ts";
import type { AccessUnit, AssemblerCounters, FrameAssemblerOptions } from "../media/frame_assembler.ts";
import type { Registry } from "../registry/registry.ts";
import { BusFrameOutput } from "./bus_frame_output.ts";
import { DataflowStream, type StreamStats } from "../stream/dataflow_stream.ts";
import type { DataflowOwners, OwnedOutputs } from "../stream/dataflow_owners.ts";
import type { FrameOutput } from "../stream/frame_output.ts";
import { type ForwardTotals, UdpForwardOutput } from "./udp_forward_output.ts";
import type { HistogramChild } from "../metrics.ts";

/** Options of {@link MediaStreams}. */
export interface MediaStreamsOptions {
  registry: Registry;
  publisher: Publisher;
  /** `--publish-queue-seconds`: seconds of video each dataflow's bus lane holds. */
  queueSeconds: number;
  log: Logger;
  /** Assembler tunables for every session. */
  assembler?: FrameAssemblerOptions;
  /** Where dataflow `id`'s RTP is forwarded (its allocated port), when it has one; no forward when absent. */
  forwardTarget?: (id: number) => { host: string; port: number } | undefined;
  /** First-packet → broker-confirm latency of every frame, in seconds. */
  receiveToConfirm?: HistogramChild;
  /** Capture (sender's clock) → broker-confirm latency of frames with a sender capture time, in seconds. */
  glassToBus?: HistogramChild;
  /** The dataflows' owners the streams are pieces of (whoever makes them ends dataflows there). */
  owners: DataflowOwners<StreamOutputs>;
  now?: () => number;
}

/** One dataflow's stream with its bus output: the `outputs` piece of its owner. */
export class StreamOutputs implements OwnedOutputs {
  constructor(readonly stream: DataflowStream, readonly bus: BusFrameOutput, private readonly retire: (bus: BusFrameOutput) => void) {}

  /** Disposes the stream (its outputs close); the bus lane's counters go to the totals. */
  end(): void {
    this.stream.dispose();
    this.retire(this.bus);
  }
}

/** A subscriber of `subscribe()` as a FrameOutput (it has no queue: the caller's hub has them). */
class ListenerOutput implements FrameOutput {
  readonly name = "listener";
  readonly dropped = {};
  constructor(private readonly onUnit: (unit: AccessUnit) => void) {}
  push(unit: AccessUnit): void {
    this.onUnit(unit);
  }
}

/** The media streams of one proxy; see the file comment. */
export class MediaStreams {
  /** The dataflows' owners; each stream is the `outputs` piece of one. */
  readonly owners: DataflowOwners<StreamOutputs>;
  /** Final counters of ended sessions, summed (for process-wide metrics). */
  readonly retired: { assembler: AssemblerCounters | undefined; busDropped: Record<string, number>; confirmed: number; confirmedBytes: number; captureInFuture: number } = {
    assembler: undefined, busDropped: {}, confirmed: 0, confirmedBytes: 0, captureInFuture: 0,
  };
  /** UDP forward counters over every dataflow. */
  readonly forwardTotals: ForwardTotals = { packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 0, dropped: 0 };
  private readonly now: () => number;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: MediaStreamsOptions) {
    this.now = options.now ?? Date.now;
    this.owners = options.owners;
    const offs = [
      // A consumer just took a lease (send turned on): it should not wait a GOP for a keyframe.
      options.registry.on("send", ({ id, send }) => void (send && this.requestKeyframe(id))),
      // A lease for it was taken, maybe by a WHEP viewer on another replica (whose PLI cannot reach us).
      options.registry.on("demanded", ({ id }) => void this.requestKeyframe(id)),
    ];
    this.unsubscribe = () => offs.forEach((off) => off());
  }

  /** The SinkFactory to give `createWhipIngest`. */
  readonly sinks: SinkFactory = (info: SessionInfo): SessionSink => this.streamOf(info.dataflowId).attach(info);

  /** Adds `output` to dataflow `id`'s stream (made if needed); returns its remover. */
  addOutput(dataflowId: number, output: FrameOutput): () => void {
    const remove = this.streamOf(dataflowId).add(output);
    return () => {
      remove();
      this.dropIfUnused(dataflowId);
    };
  }

  /** Calls `onUnit` with every access unit of `dataflowId` until unsubscribed (WHEP's UnitSource). */
  subscribe(dataflowId: number, onUnit: (unit: AccessUnit) => void): () => void {
    return this.addOutput(dataflowId, new ListenerOutput(onUnit));
  }

  /** Asks the publisher of `dataflowId` for a keyframe (PLI); false when none is connected. */
  requestKeyframe(dataflowId: number): boolean {
    return this.find(dataflowId)?.requestKeyframe() ?? false;
  }

  /**
   * Live figures of `dataflowId`, or undefined when it never streamed since the proxy started;
   * with the glass-to-bus p50/p95 (ms) of its last 300 frames once it has sender capture times.
   */
  statsOf(dataflowId: number): StreamStats | undefined {
    const outputs = this.owners.get(dataflowId)?.outputs;
    const stats = outputs?.stream.stats(this.now());
    const window = outputs?.bus.glassToBusWindow;
    if (!stats || !window?.count) return stats;
    return { ...stats, glassToBusP50Ms: Math.round(window.quantile(0.5)!), glassToBusP95Ms: Math.round(window.quantile(0.95)!) };
  }

  /** The stream of `dataflowId`, if it has one. */
  find(dataflowId: number): DataflowStream | undefined {
    return this.owners.get(dataflowId)?.stream;
  }

  /** Every stream held now. */
  *all(): IterableIterator<DataflowStream> {
    for (const owner of this.owners.values()) if (owner.outputs) yield owner.outputs.stream;
  }

  /** The stream of `dataflowId`, made idle with its bus output when new. */
  streamOf(dataflowId: number): DataflowStream {
    const owner = this.owners.of(dataflowId);
    if (owner.outputs) return owner.outputs.stream;
    const bus = new BusFrameOutput(dataflowId, {
      publisher: this.options.publisher,
      metadata: () => this.options.registry.metadataOf(dataflowId),
      queueSeconds: this.options.queueSeconds,
      receiveToConfirm: this.options.receiveToConfirm,
      glassToBus: this.options.glassToBus,
      now: this.now,
    });
    const stream = new DataflowStream(dataflowId, {
      log: this.options.log,
      assembler: this.options.assembler,
      published: () => bus.confirmed,
      onRetire: (c) => (this.retired.assembler = this.retired.assembler ? addCounters(this.retired.assembler, c) : structuredClone(c)),
    });
    stream.add(bus);
    const target = this.options.forwardTarget;
    if (target) {
      stream.addPacketOutput(new UdpForwardOutput(dataflowId, { target: () => target(dataflowId), totals: this.forwardTotals, log: this.options.log }));
    }
    owner.outputs = new StreamOutputs(stream, bus, (b) => this.retire(b));
    return stream;
  }

  /** Sum of the assembler counters of every session, ended and current. */
  assemblerTotals(): AssemblerCounters | undefined {
    let out = this.retired.assembler ? structuredClone(this.retired.assembler) : undefined;
    for (const s of this.all()) {
      const c = s.counters;
      if (c) out = out ? addCounters(out, c) : structuredClone(c);
    }
    return out;
  }

  /** Bus output totals over every dataflow, ended and current. */
  busTotals(): { queued: number; confirmed: number; confirmedBytes: number; depth: number; dropped: Record<string, number>; captureInFuture: number } {
    const dropped = { ...this.retired.busDropped };
    let captureInFuture = this.retired.captureInFuture;
    let confirmed = this.retired.confirmed;
    let confirmedBytes = this.retired.confirmedBytes;
    let depth = 0;
    let queued = 0;
    for (const owner of this.owners.values()) {
      const b = owner.outputs?.bus;
      if (!b) continue;
      confirmed += b.confirmed;
      confirmedBytes += b.confirmedBytes;
      depth += b.depth;
      queued += b.queued;
      captureInFuture += b.captureInFuture;
      for (const [k, v] of Object.entries(b.dropped)) dropped[k] = (dropped[k] ?? 0) + v;
    }
    return { queued, confirmed, confirmedBytes, depth, dropped, captureInFuture };
  }

  /** Stops following the registry and drops every stream. */
  close(): void {
    this.unsubscribe();
    for (const owner of [...this.owners.values()]) this.drop(owner.dataflowId);
  }

  /** The stream of `id` goes without its dataflow ending (the proxy stops, or nothing uses it). */
  private drop(id: number): void {
    const outputs = this.owners.get(id)?.outputs;
    if (!outputs) return;
    outputs.end();
    this.owners.release(id, "outputs");
  }

  /** A lane's counters stay in the totals after its stream went. */
  private retire(bus: BusFrameOutput): void {
    this.retired.confirmed += bus.confirmed;
    this.retired.confirmedBytes += bus.confirmedBytes;
    this.retired.captureInFuture += bus.captureInFuture;
    for (const [k, v] of Object.entries(bus.dropped)) this.retired.busDropped[k] = (this.retired.busDropped[k] ?? 0) + v;
  }

  /**
   * A stream made only for outputs of a dataflow that is not registered goes when they do (not
   * while its owner is ending the dataflow: the owner closes the outputs in its own order).
   */
  private dropIfUnused(id: number): void {
    const owner = this.owners.get(id);
    const stream = owner?.stream;
    if (owner?.state === "open" && stream && stream.state === "idle" && stream.outputs.size <= 1 && !this.options.registry.metadataOf(id)) this.drop(id);
  }
}

/** `a + b`, field by field (records of counters by reason too). */
export function addCounters(a: AssemblerCounters, b: AssemblerCounters): AssemblerCounters {
  const out = structuredClone(a) as unknown as Record<string, number | Record<string, number>>;
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === "number") out[k] = ((out[k] as number) ?? 0) + v;
    else {
      const into = out[k] as Record<string, number>;
      for (const [r, n] of Object.entries(v as Record<string, number>)) into[r] = (into[r] ?? 0) + n;
    }
  }
  return out as unknown as AssemblerCounters;
}
