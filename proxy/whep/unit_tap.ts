/**
 * A {@link UnitSource} for WHEP until the per-dataflow stream of proxy/outputs feeds every
 * output from one assembler: it wraps the ingest's sink factory, passes every packet on to the
 * inner sink unchanged (its NACK/PLI feedback is the one the session acts on), and, only while
 * a dataflow has subscribers, assembles the packets a second time for them. Keyframes are
 * requested through the ingest's session registry.
 */
import type { IngestFeedback, SessionSink, SinkFactory } from "../ingest/ingest_types.ts";
import type { SessionRegistry } from "../ingest/session_registry.ts";
import { type AccessUnit, FrameAssembler } from "../media/frame_assembler.ts";
import type { UnitSource } from "./whep_playback.ts";

type Listener = (unit: AccessUnit) => void;

/** Tees the ingest's RTP into access units for subscribers. */
export class UnitTap implements UnitSource {
  private readonly listeners = new Map<number, Set<Listener>>();
  private sessions: SessionRegistry | undefined;

  /** The ingest's sessions, for keyframe requests (set once the ingest exists). */
  attach(sessions: SessionRegistry): void {
    this.sessions = sessions;
  }

  subscribe(dataflowId: number, onUnit: Listener): () => void {
    let set = this.listeners.get(dataflowId);
    if (!set) {
      set = new Set();
      this.listeners.set(dataflowId, set);
    }
    set.add(onUnit);
    return () => {
      set.delete(onUnit);
      if (set.size === 0 && this.listeners.get(dataflowId) === set) this.listeners.delete(dataflowId);
    };
  }

  requestKeyframe(dataflowId: number): boolean {
    return this.sessions?.requestKeyframe(dataflowId) ?? false;
  }

  /** `inner` with a tap: each session's packets also reach the subscribers of its dataflow. */
  sinks(inner: SinkFactory): SinkFactory {
    return (info) => {
      const sink = inner(info);
      let assembler: FrameAssembler | undefined;
      const emit = (frames: readonly AccessUnit[]) => {
        const set = this.listeners.get(info.dataflowId);
        if (set) for (const unit of frames) for (const fn of set) fn(unit);
      };
      const tap = (packet: Parameters<NonNullable<SessionSink["onRtp"]>>[0], arrivalMs: number) => {
        if (!this.listeners.has(info.dataflowId)) {
          assembler = undefined;
          return;
        }
        assembler ??= new FrameAssembler({ payloadType: info.payloadType });
        emit(assembler.push(packet, arrivalMs).frames);
      };
      return {
        onRtp(packet, arrivalMs): IngestFeedback | void {
          const feedback = sink.onRtp ? sink.onRtp(packet, arrivalMs) : sink.onPacket?.(packet.serialize(), arrivalMs);
          tap(packet, arrivalMs);
          return feedback;
        },
        wakeAtMs: () => Math.min(sink.wakeAtMs?.() ?? Infinity, assembler?.wakeAtMs ?? Infinity),
        poll(nowMs) {
          if (assembler && assembler.wakeAtMs <= nowMs) emit(assembler.poll(nowMs).frames);
          return (sink.wakeAtMs?.() ?? Infinity) <= nowMs ? sink.poll?.(nowMs) : undefined;
        },
        close(reason) {
          sink.close(reason);
        },
      };
    };
  }
}
