/**
 * The glue between a WHIP session and the media core: each session gets a FrameAssembler
 * (proxy/media/frame_assembler.ts) fed with werift's parsed packets; its NACK/PLI requests go
 * back to the session as feedback, its access units to `onFrames`.
 */
import { type AccessUnit, FrameAssembler, type FrameAssemblerOptions } from "../media/frame_assembler.ts";
import type { SessionEndReason, SessionInfo, SinkFactory } from "./ingest_types.ts";

/** Options of {@link assemblerSinks}. */
export interface AssemblerSinkOptions {
  /** Whole access units of one session, in order (synchronously, from the packet path). */
  onFrames(info: SessionInfo, frames: readonly AccessUnit[]): void;
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
    const assembler = new FrameAssembler({ payloadType: info.payloadType, ...options.assembler });
    options.onOpen?.(info, assembler);
    return {
      onRtp(packet, arrivalMs) {
        const out = assembler.push(packet, arrivalMs);
        if (out.frames.length > 0) options.onFrames(info, out.frames);
        return out;
      },
      wakeAtMs: () => assembler.wakeAtMs,
      poll(nowMs) {
        const out = assembler.poll(nowMs);
        if (out.frames.length > 0) options.onFrames(info, out.frames);
        return out;
      },
      close(reason) {
        options.onClose?.(info, reason, assembler);
      },
    };
  };
}
