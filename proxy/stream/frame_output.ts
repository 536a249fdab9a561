/**
 * What every output of a dataflow's stream implements (mediamtx style: one unit feeds every
 * output, each output owns its bounded queue and its drop counter, so a slow output only ever
 * drops its own frames and never holds up the others or the packet path).
 */
import type { AccessUnit } from "../media/frame_assembler.ts";
import type { IngestRtpPacket, SessionEndReason } from "../ingest/ingest_types.ts";

/** The dataflow a unit belongs to, as outputs see it. */
export interface StreamContext {
  dataflowId: number;
  /** The WHIP session the unit came from. */
  sessionId: string;
}

/**
 * One consumer of a dataflow's access units (RabbitMQ frames, a WHEP viewer hub, a recorder).
 *
 * `push` is called synchronously from the packet path, in order, with whole units only
 * (Annex-B, SPS/PPS before every keyframe; `unit.data` may be kept, it is never reused). It
 * must not block or await: queue the unit in the output's own bounded queue, or drop it and
 * count the drop. Returning `"keyframe"` asks the publisher for a keyframe (PLI), e.g. after the
 * output had to drop a frame and now waits for the next keyframe.
 */
export interface FrameOutput {
  /** Short name for logs and metrics (`bus`, `whep`, …). */
  readonly name: string;
  push(unit: AccessUnit, stream: StreamContext): void | "keyframe";
  /** Frames this output dropped, by reason (its own queue or policy). */
  readonly dropped: Readonly<Record<string, number>>;
  /** A new publisher session started: the next units start a new GOP. */
  sessionStarted?(stream: StreamContext): void;
  /** The publisher's session ended; the output stays attached for the next one. */
  sessionEnded?(stream: StreamContext, reason: SessionEndReason): void;
  /** The output was removed from its stream, or the stream is gone: release what it holds. */
  close?(): void;
}

/** An output that takes every RTP packet of a stream (as received, before reassembly). */
export interface PacketOutput {
  readonly name: string;
  pushPacket(packet: IngestRtpPacket, stream: StreamContext): void;
  sessionStarted?(stream: StreamContext): void;
  sessionEnded?(stream: StreamContext): void;
  close?(): void;
}

/** Total of an output's drop counters. */
export function droppedTotal(output: Pick<FrameOutput, "dropped">): number {
  let n = 0;
  for (const v of Object.values(output.dropped)) n += v;
  return n;
}
