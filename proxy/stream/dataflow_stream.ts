/**
 * One dataflow's stream, owned by one object with an explicit state (mediamtx style). It owns
 * the FrameAssembler of the current WHIP session, returns the assembler's NACK/PLI feedback to
 * that session, and feeds every access unit to every output, each with its own bounded queue:
 *
 *   WHIP session ─RTP─► FrameAssembler ─AccessUnit─┬─► bus output (lane) ─► RabbitMQ `video`
 *                                                  ├─► WHEP viewer hub ─► viewers' queues
 *                                                  └─► any other FrameOutput
 *
 *   idle ──session──► starting ──first frame──► live ──session ends──► closing ──► idle
 *
 * A new session of the same dataflow (takeover, reconnect) replaces the assembler; frame
 * numbers (`seq`) continue across sessions so consumers see one sequence per dataflow, and the
 * units a session dropped at its end still leave their jump.
 */
import type { IngestFeedback, IngestRtpPacket, SessionEndReason, SessionInfo, SessionSink } from "../ingest/ingest_types.ts";
import type { Logger } from "../log.ts";
import { type AccessUnit, type AssemblerCounters, FrameAssembler, type FrameAssemblerOptions } from "../media/frame_assembler.ts";
import { droppedTotal, type FrameOutput, type PacketOutput, type StreamContext } from "./frame_output.ts";
import { OversizeWarning } from "./oversize_warning.ts";

/** Where a dataflow's stream is in its life. */
export type StreamState = "idle" | "starting" | "live" | "closing";

/** Every `StreamState`, for metrics that list all of them. */
export const STREAM_STATES: readonly StreamState[] = ["idle", "starting", "live", "closing"];

/** Live figures of one stream (the `stats` of `GET /dataflows/{id}`). */
export interface StreamStats {
  /** RTP bits per second over the last second. */
  bitrateBps: number;
  /** Access units per second over the last second. */
  fps: number;
  /** Frames the bus output got confirmed by RabbitMQ. */
  framesPublished: number;
  /** Frames lost on the way: incomplete (assembler) plus dropped by outputs. */
  framesDropped: number;
  framesAssembled: number;
  packets: number;
  width: number;
  height: number;
  /** Glass-to-bus latency (capture on the sender's clock → RabbitMQ confirm) of the last frames, ms (MediaStreams adds them). */
  glassToBusP50Ms?: number;
  glassToBusP95Ms?: number;
}

/** Options of {@link DataflowStream}. */
export interface StreamOptions {
  log: Logger;
  /** Assembler tunables; `payloadType` defaults to the negotiated one. */
  assembler?: FrameAssemblerOptions;
  /** Frames of this dataflow confirmed by the broker (the bus output's figure). */
  published: () => number;
  /** A session's assembler is done: its final counters (for process-wide totals). */
  onRetire?: (counters: AssemblerCounters) => void;
}

/** Totals of sessions that ended, so counters survive a session change. */
const ZERO = { packets: 0, bytes: 0, framesOut: 0, framesDropped: 0 };

/** One dataflow's stream; see the file comment. */
export class DataflowStream {
  state: StreamState = "idle";
  readonly outputs = new Set<FrameOutput>();
  /** Outputs of the RTP itself (the UDP forward), fed before reassembly. */
  readonly packetOutputs = new Set<PacketOutput>();
  /** The assembler of the current (or last) session. */
  assembler: FrameAssembler | undefined;
  private session: StreamContext | undefined;
  private retired = { ...ZERO };
  private seqBase = 0;
  private nextSeq = 0;
  private keyframeWanted = false;
  private width = 0;
  private height = 0;
  private window = { startMs: 0, bytes: 0, frames: 0 };
  private rate = { bitrateBps: 0, fps: 0, atMs: 0 };
  /** Output exceptions (each output is isolated from the others). */
  outputErrors = 0;
  private readonly oversize: OversizeWarning;

  constructor(
    readonly dataflowId: number,
    private readonly options: StreamOptions,
  ) {
    this.oversize = new OversizeWarning(options.log, dataflowId, options.assembler?.maxAccessUnitBytes);
  }

  /** The context of the current session, if one is attached. */
  get current(): StreamContext | undefined {
    return this.session;
  }

  /** A WHIP session starts: returns the sink the session feeds (idle/any → starting). */
  attach(info: SessionInfo): SessionSink {
    if (this.session) this.detach(this.session.sessionId, "takeover");
    const ctx: StreamContext = { dataflowId: this.dataflowId, sessionId: info.sessionId };
    this.session = ctx;
    this.assembler = new FrameAssembler({ payloadType: info.payloadType, packetizationMode: info.packetizationMode, absCaptureTimeId: info.absCaptureTimeId, ...this.options.assembler });
    this.seqBase = this.nextSeq;
    this.keyframeWanted = false;
    this.state = "starting";
    for (const output of this.outputs) this.guard(output, () => output.sessionStarted?.(ctx));
    for (const output of this.packetOutputs) this.guard(output, () => output.sessionStarted?.(ctx));
    const assembler = this.assembler;
    return {
      onRtp: (packet: IngestRtpPacket, arrivalMs: number) => this.onRtp(ctx, assembler, packet, arrivalMs),
      wakeAtMs: () => (this.keyframeWanted && this.session === ctx ? 0 : assembler.wakeAtMs),
      poll: (nowMs: number) => this.feedback(ctx, assembler.poll(nowMs)),
      close: (reason: SessionEndReason) => this.detach(ctx.sessionId, reason),
    };
  }

  /** Asks the publisher for a keyframe with the next feedback; false when no session is attached. */
  requestKeyframe(): boolean {
    if (!this.session) return false;
    this.keyframeWanted = true;
    return true;
  }

  /** Adds `output`; it gets every unit from the next one on. Returns its remover. */
  add(output: FrameOutput): () => void {
    this.outputs.add(output);
    if (this.session) this.guard(output, () => output.sessionStarted?.(this.session!));
    return () => {
      if (this.outputs.delete(output)) this.guard(output, () => output.close?.());
    };
  }

  /** Adds an output of the raw RTP; returns its remover. */
  addPacketOutput(output: PacketOutput): () => void {
    this.packetOutputs.add(output);
    if (this.session) this.guard(output, () => output.sessionStarted?.(this.session!));
    return () => {
      if (this.packetOutputs.delete(output)) this.guard(output, () => output.close?.());
    };
  }

  /** Live figures; rates fall to 0 when packets stop. */
  stats(nowMs: number, extraDropped = 0): StreamStats {
    const c = this.assembler?.counters;
    const stale = nowMs - this.rate.atMs > 2500;
    let dropped = this.retired.framesDropped + extraDropped + (c ? sumValues(c.framesDropped) : 0);
    for (const output of this.outputs) dropped += droppedTotal(output);
    return {
      bitrateBps: stale ? 0 : this.rate.bitrateBps,
      fps: stale ? 0 : this.rate.fps,
      framesPublished: this.options.published(),
      framesDropped: dropped,
      framesAssembled: this.retired.framesOut + (c?.framesOut ?? 0),
      packets: this.retired.packets + (c?.packets ?? 0),
      width: this.width,
      height: this.height,
    };
  }

  /** Counters of the current assembler (undefined before the first session). */
  get counters(): AssemblerCounters | undefined {
    return this.assembler?.counters;
  }

  /** Removes every output (the dataflow is gone). */
  dispose(): void {
    if (this.session) this.detach(this.session.sessionId, "dataflow-expired");
    for (const output of this.outputs) this.guard(output, () => output.close?.());
    for (const output of this.packetOutputs) this.guard(output, () => output.close?.());
    this.outputs.clear();
    this.packetOutputs.clear();
  }

  private onRtp(ctx: StreamContext, assembler: FrameAssembler, packet: IngestRtpPacket, arrivalMs: number): IngestFeedback {
    for (const output of this.packetOutputs) {
      try {
        output.pushPacket(packet, ctx);
      } catch (error) {
        this.failed(output, error);
      }
    }
    const before = assembler.counters.bytes;
    const out = assembler.push(packet, arrivalMs);
    this.measure(arrivalMs, assembler.counters.bytes - before, out.frames.length);
    if (out.drops.length > 0) this.oversize.note(out.drops, arrivalMs, ctx.sessionId);
    return this.feedback(ctx, out);
  }

  private feedback(ctx: StreamContext, out: { frames: AccessUnit[]; nacks: number[]; pli: boolean }): IngestFeedback {
    let pli = out.pli;
    if (this.session === ctx) {
      if (out.frames.length > 0 && this.deliver(ctx, out.frames)) pli = true;
      if (this.keyframeWanted) {
        this.keyframeWanted = false;
        pli = true;
      }
    }
    return pli === out.pli ? out : { nacks: out.nacks, pli };
  }

  /** Feeds `units` to every output; true when one of them wants a keyframe. */
  private deliver(ctx: StreamContext, units: readonly AccessUnit[]): boolean {
    let wantKeyframe = false;
    if (this.state === "starting") this.state = "live";
    for (const unit of units) {
      if (this.seqBase !== 0) unit.seq += this.seqBase;
      this.nextSeq = unit.seq + 1;
      if (unit.width) {
        this.width = unit.width;
        this.height = unit.height ?? 0;
      }
      for (const output of this.outputs) {
        try {
          if (output.push(unit, ctx) === "keyframe") wantKeyframe = true;
        } catch (error) {
          this.failed(output, error);
        }
      }
    }
    return wantKeyframe;
  }

  /** Rolls the one-second rate window. */
  private measure(nowMs: number, bytes: number, frames: number): void {
    const w = this.window;
    if (w.startMs === 0) w.startMs = nowMs;
    w.bytes += bytes;
    w.frames += frames;
    const span = nowMs - w.startMs;
    if (span < 1000) return;
    this.rate = { bitrateBps: Math.round((w.bytes * 8 * 1000) / span), fps: Math.round((w.frames * 10_000) / span) / 10, atMs: nowMs };
    this.window = { startMs: nowMs, bytes: 0, frames: 0 };
  }

  private detach(sessionId: string, reason: SessionEndReason): void {
    const ctx = this.session;
    if (!ctx || ctx.sessionId !== sessionId) return;
    this.state = "closing";
    const c = this.assembler?.counters;
    if (c) {
      this.options.onRetire?.(c);
      this.retired = {
        packets: this.retired.packets + c.packets,
        bytes: this.retired.bytes + c.bytes,
        framesOut: this.retired.framesOut + c.framesOut,
        framesDropped: this.retired.framesDropped + sumValues(c.framesDropped),
      };
    }
    // Frames the session dropped after its last delivered one keep their numbers.
    if (this.assembler && this.assembler.framesNumbered > 0) this.nextSeq = this.seqBase + this.assembler.framesNumbered;
    this.assembler = undefined;
    this.session = undefined;
    for (const output of this.outputs) this.guard(output, () => output.sessionEnded?.(ctx, reason));
    for (const output of this.packetOutputs) this.guard(output, () => output.sessionEnded?.(ctx));
    this.options.log.info("stream ended", { dataflowId: this.dataflowId, sessionId, reason, frames: c?.framesOut, lost: c?.lost });
    this.window = { startMs: 0, bytes: 0, frames: 0 };
    this.rate = { bitrateBps: 0, fps: 0, atMs: 0 };
    this.state = "idle";
  }

  private guard(output: { name: string }, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.failed(output, error);
    }
  }

  private failed(output: { name: string }, error: unknown): void {
    this.outputErrors++;
    if (this.outputErrors <= 5) this.options.log.error("frame output failed", { dataflowId: this.dataflowId, output: output.name, error });
  }
}

function sumValues(record: Readonly<Record<string, number>>): number {
  let n = 0;
  for (const v of Object.values(record)) n += v;
  return n;
}
