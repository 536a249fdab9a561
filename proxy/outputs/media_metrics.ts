/**
 * The media path's series on `/metrics` (Prometheus text): streams by state, frames assembled,
 * published (confirmed by RabbitMQ) and dropped by stage and reason, packets dropped and lost,
 * the publish queue depth, each frame's first-packet → broker-confirm latency, and its
 * glass-to-bus latency (sender's capture time → broker confirm). Sessions,
 * packets, bytes, NACKs and PLIs are the WHIP ingest's series (`vsb_whip_*`); per-lane queues
 * and publish → confirm latency are the publisher's (`vsb_bus_*`).
 */
import type { HistogramChild, Metrics } from "../metrics.ts";
import { PACKET_DROP_REASONS } from "../media/frame_assembler.ts";
import { FRAME_DROP_REASONS } from "../media/h264_depacketizer.ts";
import { BUS_DROP_REASONS } from "./bus_frame_output.ts";
import type { DataflowEvents } from "./dataflow_events.ts";
import { STREAM_STATES } from "../stream/dataflow_stream.ts";
import type { MediaStreams } from "./media_streams.ts";
import { logger } from "../log.ts";
import { installWeriftFastPath, PINNED_WERIFT_VERSION, srtpFastCounters } from "../webrtc/werift_fast_path.ts";

/** Buckets of the receive → confirm histogram, in seconds (1 ms … 10 s, fine up to the 20 ms target). */
const RECEIVE_TO_CONFIRM_BUCKETS = [0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The histogram child the bus outputs observe (made before the streams exist). */
export function receiveToConfirmHistogram(metrics: Metrics): HistogramChild {
  return metrics.histogram(
    "vsb_frame_receive_to_confirm_seconds",
    "From a frame's first RTP packet arriving to RabbitMQ confirming its message",
    RECEIVE_TO_CONFIRM_BUCKETS,
  ).with();
}

/** Buckets of the glass-to-bus histogram, in seconds (5 ms … 10 s: encode, uplink and bus). */
const GLASS_TO_BUS_BUCKETS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10];

/**
 * The histogram child of capture → broker confirm: from the sender's capture time
 * (abs-capture-time, on the sender's clock) to RabbitMQ confirming the frame, for frames with a
 * sender capture time. The two clocks' difference is in it: the operator keeps them in step.
 */
export function glassToBusHistogram(metrics: Metrics): HistogramChild {
  return metrics.histogram(
    "vsb_glass_to_bus_seconds",
    "From a frame's capture (the sender's clock, abs-capture-time) to RabbitMQ confirming its message",
    GLASS_TO_BUS_BUCKETS,
  ).with();
}

/** Registers the series of `streams` (and of the bus events follower when given). */
export function registerMediaMetrics(metrics: Metrics, streams: MediaStreams, events?: DataflowEvents): void {
  metrics.gauge("vsb_media_streams", "Dataflow streams by state (idle, starting, live, closing)", (s) => {
    const by = Object.fromEntries(STREAM_STATES.map((st) => [st, 0])) as Record<string, number>;
    for (const stream of streams.all()) by[stream.state]!++;
    for (const [state, n] of Object.entries(by)) s.set({ state }, n);
  });
  metrics.counter("vsb_frames_assembled_total", "Whole access units assembled from RTP", (s) => s.set(undefined, streams.assemblerTotals()?.framesOut ?? 0));
  metrics.counter("vsb_frames_queued_total", "Frames handed to the RabbitMQ publish queue", (s) => s.set(undefined, streams.busTotals().queued));
  metrics.counter("vsb_frames_published_total", "Frames RabbitMQ confirmed", (s) => s.set(undefined, streams.busTotals().confirmed));
  metrics.counter("vsb_frames_published_bytes_total", "Body bytes of the frames RabbitMQ confirmed", (s) => s.set(undefined, streams.busTotals().confirmedBytes));
  metrics.counter("vsb_frames_dropped_total", "Frames dropped, by stage (assembler, bus) and reason", (s) => {
    const assembler = streams.assemblerTotals()?.framesDropped;
    for (const reason of FRAME_DROP_REASONS) s.set({ stage: "assembler", reason }, assembler?.[reason] ?? 0);
    const bus = streams.busTotals().dropped;
    for (const reason of BUS_DROP_REASONS) s.set({ stage: "bus", reason }, bus[reason] ?? 0);
  });
  metrics.counter("vsb_access_units_oversize_total", "Access units dropped for growing past --max-access-unit-bytes (a keyframe was asked for)", (s) => s.set(undefined, streams.assemblerTotals()?.framesDropped.oversize ?? 0));
  metrics.counter("vsb_frames_capture_in_future_total", "Frames whose sender capture time lay over 100 ms after their arrival (sender clock ahead): captureTime clamped to receiveTime", (s) => s.set(undefined, streams.busTotals().captureInFuture));
  metrics.gauge("vsb_publish_queue_frames", "Frames waiting in the dataflows' publish queues", (s) => s.set(undefined, streams.busTotals().depth));
  metrics.counter("vsb_rtp_packets_dropped_total", "RTP packets the jitter buffer did not accept, by reason", (s) => {
    const dropped = streams.assemblerTotals()?.packetsDropped;
    for (const reason of PACKET_DROP_REASONS) s.set({ reason }, dropped?.[reason] ?? 0);
  });
  metrics.counter("vsb_rtp_packets_lost_total", "RTP packets given up on after NACKs", (s) => s.set(undefined, streams.assemblerTotals()?.lost ?? 0));
  metrics.counter("vsb_rtp_nack_bursts_capped_total", "RTP sequence gaps wider than --max-nack-burst: given up without NACKs, a keyframe asked for", (s) => s.set(undefined, streams.assemblerTotals()?.nackBurstsCapped ?? 0));
  metrics.counter("vsb_rtp_packets_out_of_mode_total", "STAP-A/FU-A packets in packetization-mode 0 sessions (single NAL units only, RFC 6184 §6.2), assembled anyway", (s) => s.set(undefined, streams.assemblerTotals()?.outOfModePackets ?? 0));
  metrics.counter("vsb_rtp_packets_recovered_total", "RTP packets that arrived after being NACKed and filled their gap (retransmitted, or late)", (s) => s.set(undefined, streams.assemblerTotals()?.recovered ?? 0));
  metrics.counter("vsb_frame_output_errors_total", "Exceptions thrown by frame outputs (isolated)", (s) => {
    let n = 0;
    for (const stream of streams.all()) n += stream.outputErrors;
    s.set(undefined, n);
  });
  // Where the proxy's memory goes (RSS vs JS heap vs Buffers): media is what makes it grow.
  metrics.gauge("vsb_process_memory_bytes", "Memory of the proxy process by kind (process.memoryUsage)", (s) => {
    const m = process.memoryUsage();
    for (const kind of ["rss", "heapTotal", "heapUsed", "external", "arrayBuffers"] as const) s.set({ kind }, m[kind]);
  });
  // Whether werift runs with our per-packet fast path (proxy/webrtc/werift_fast_path.ts), and
  // which way each SRTP packet was decrypted: an operator sees at once when werift is as shipped.
  const fast = installWeriftFastPath(logger("webrtc")); // done at import; this reads the outcome
  if (fast.installed) logger("webrtc").info("werift fast path installed", { werift: PINNED_WERIFT_VERSION });
  metrics.gauge("vsb_werift_fast_path", "1 when the werift fast path is installed, 0 when werift runs as shipped", (s) => s.set({}, fast.installed ? 1 : 0));
  metrics.counter("vsb_srtp_packets_total", "SRTP packets decrypted, by path (fast: the lean AES-GCM or AES-CM decrypt; the others went to werift)", (s) => {
    for (const [path, n] of Object.entries(srtpFastCounters)) s.set({ path }, n);
  });
  if (events) {
    metrics.counter("vsb_dataflow_events_heard_total", "newdataflow/terminatedataflow heard on amq.topic", (s) => {
      for (const [event, n] of Object.entries(events.counts)) s.set({ event }, n);
    });
  }
}

/**
 * Event-loop lag (how late a 100 ms timer fires): every frame waits behind a stalled loop, so
 * this explains publish-latency tails (GC pauses, long synchronous work). Returns its stopper.
 */
export function watchEventLoop(metrics: Metrics, periodMs = 100): () => void {
  const lag = metrics.histogram("vsb_event_loop_lag_seconds", "How late a 100 ms timer of the proxy fired", RECEIVE_TO_CONFIRM_BUCKETS).with();
  let expected = performance.now() + periodMs;
  const timer = setInterval(() => {
    const now = performance.now();
    lag.observe(Math.max(0, now - expected) / 1000);
    expected = now + periodMs;
  }, periodMs);
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}
