/** The metrics of {@link BusFrameSource}: remote dataflows followed from RabbitMQ for WHEP viewers. */
import type { Metrics } from "../metrics.ts";
import type { BusFrameSource } from "./bus_frame_source.ts";

/** Registers the `vsb_whep_bus_*` series of `source` on `metrics`. */
export function registerBusSourceMetrics(metrics: Metrics, source: BusFrameSource): void {
  const c = source.counters;
  metrics.gauge("vsb_whep_bus_sources", "Dataflows ingested on another replica that WHEP viewers here watch from RabbitMQ (one queue each)", (s) => s.set(undefined, source.size));
  metrics.counter("vsb_whep_bus_frames_total", "Frames taken from RabbitMQ for WHEP viewers of dataflows ingested on another replica", (s) => s.set(undefined, c.frames));
  metrics.counter("vsb_whep_bus_frames_dropped_total", "Frames of remote dataflows WHEP viewers did not get from RabbitMQ, by reason (missing: seq numbers never received, dropped by the queue's x-max-length or never published; to_keyframe: held until the next keyframe after a gap or a new subscription; malformed)", (s) => {
    s.set({ reason: "missing" }, c.dropped.missing);
    s.set({ reason: "to_keyframe" }, c.dropped["to-keyframe"]);
    s.set({ reason: "malformed" }, c.dropped.malformed);
  });
  metrics.counter("vsb_whep_bus_subscribe_errors_total", "Frame queues for remote WHEP viewers that could not be declared, bound or consumed (tried again at the next broker connect)", (s) => s.set(undefined, c.subscribeErrors));
}
