/**
 * The glue between a WHIP session and the media core: each session gets a FrameAssembler
 * (proxy/media/frame_assembler.ts) fed with werift's parsed packets; its NACK/PLI requests go
 * back to the session as feedback, its access units to `onFrames`.
 */
import { type AccessUnit, FrameAssembler, type FrameAssemblerOptions, type AssemblerOutput } from "../media/frame_assembler.ts";
import type { IngestFeedback, SessionEndReason, SessionInfo, SinkFactory } from "./ingest_types.ts";

/** Options of {@link assemblerSinks}. */
export interface AssemblerSinkOptions {
  /**
   * Whole access units of one session, in order (synchronously, from the packet path).
   * Returning true asks the publisher for a keyframe (e.g. a frame had to be dropped).
   */
  onFrames(info: SessionInfo, frames: readonly AccessUnit[]): boolean | void;
  /** The session ended; `assembler.counters` hold its final figures. */
  onClose?(info: SessionInfo, reason: SessionEndReason, assembler: FrameAssembler): void;
  /** A session started and got its assembler (e.g. to export its counters). */
  onOpen?(info: SessionInfo, assembler: FrameAssembler): void;
  /** Assembler tunables; `payloadType` defaults to the negotiated one. */
  assembler?: FrameAssemblerOptions;
}

/** A sink factory that assembles H.264 access units from each session's RTP. */
export function assemblerSinks(options: AssemblerSinkOptions): SinkFactory {
  return (info) => {
    const assembler = new FrameAssembler({
      payloadType: info.payloadType, packetizationMode: info.packetizationMode, absCaptureTimeId: info.absCaptureTimeId, ...options.assembler,
    });
    options.onOpen?.(info, assembler);
    const feedback = (out: AssemblerOutput): IngestFeedback => {
      const wantKeyframe = out.frames.length > 0 && options.onFrames(info, out.frames) === true;
      return wantKeyframe ? { nacks: out.nacks, pli: true } : out;
    };
    return {
      onRtp(packet, arrivalMs) {
        return feedback(assembler.push(packet, arrivalMs));
      },
      wakeAtMs: () => assembler.wakeAtMs,
      poll(nowMs) {
        return feedback(assembler.poll(nowMs));
      },
      close(reason) {
        options.onClose?.(info, reason, assembler);
      },
    };
  };
}
