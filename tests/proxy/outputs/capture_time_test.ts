// A frame's captureTime on the bus: the sender's stamp as it is, receiveTime when the sender gave
// none, receiveTime again (counted) when the stamp lies in the future; and the p50/p95 window
// of the dashboard.
import { describe, expect, test } from "bun:test";
import { BusConnection } from "../../../proxy/bus/bus_connection.ts";
import { Publisher } from "../../../proxy/bus/publisher.ts";
import { configureLog } from "../../../proxy/log.ts";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";
import { BusFrameOutput, frameLaneName } from "../../../proxy/outputs/bus_frame_output.ts";
import { CAPTURE_FUTURE_TOLERANCE_MS, frameCaptureTime, LatencyWindow } from "../../../proxy/outputs/capture_time.ts";
import { DataflowMetadataSchema, FrameHeadersSchema } from "../../../shared/mod.ts";
import { agentBody } from "../sensor_body.ts";

configureLog({ level: "silent" });
const metadata = DataflowMetadataSchema.parse(agentBody());
const ARRIVAL = 1_765_000_000_000;

function unit(seq: number, captureTimeMs?: number): AccessUnit {
  const data = new Uint8Array(100);
  return { data, nals: [data], keyframe: seq === 0, rtpTimestamp: seq * 3000, seq, firstPacketArrivalMs: ARRIVAL, captureTimeMs };
}

describe("frameCaptureTime()", () => {
  test("the sender's time (whole ms) when it has one, receiveTime marked `receive` when not", () => {
    expect(frameCaptureTime(unit(0, ARRIVAL - 200.4))).toEqual({ ms: ARRIVAL - 200, source: "sender" });
    expect(frameCaptureTime(unit(0))).toEqual({ ms: ARRIVAL, source: "receive" });
  });

  test("up to the tolerance after arrival is taken; beyond it, clamped to receiveTime", () => {
    expect(frameCaptureTime(unit(0, ARRIVAL + CAPTURE_FUTURE_TOLERANCE_MS))).toEqual({ ms: ARRIVAL + CAPTURE_FUTURE_TOLERANCE_MS, source: "sender" });
    expect(frameCaptureTime(unit(0, ARRIVAL + CAPTURE_FUTURE_TOLERANCE_MS + 1))).toEqual({ ms: ARRIVAL, source: "clamped" });
  });
});

describe("BusFrameOutput capture headers", () => {
  test("captureTime, receiveTime and captureTimeSource per frame; a future one is counted", () => {
    const publisher = new Publisher(new BusConnection({ url: "amqp://127.0.0.1:1" })); // broker away: frames stay queued
    const out = new BusFrameOutput(9, { publisher, metadata: () => metadata, queueSeconds: 1 });
    out.sessionStarted();
    out.push(unit(0, ARRIVAL - 200), { dataflowId: 9, sessionId: "s" });
    out.push(unit(1), { dataflowId: 9, sessionId: "s" });
    out.push(unit(2, ARRIVAL + 5000), { dataflowId: 9, sessionId: "s" });
    const lane = publisher.lane(frameLaneName(9), { maxMessages: 1, maxBytes: 1 });
    const headers = [0, 1, 2].map(() => FrameHeadersSchema.parse(lane.shift()!.msg.headers));
    expect(headers.map((h) => [h.captureTime, h.receiveTime, h.captureTimeSource])).toEqual([
      [ARRIVAL - 200, ARRIVAL, "sender"],
      [ARRIVAL, ARRIVAL, "receive"],
      [ARRIVAL, ARRIVAL, "clamped"],
    ]);
    expect(out.captureInFuture).toBe(1);
  });
});

describe("LatencyWindow", () => {
  test("nearest-rank p50/p95 of the last `size` values only", () => {
    const w = new LatencyWindow(100);
    expect(w.quantile(0.5)).toBeUndefined();
    for (let i = 1; i <= 100; i++) w.add(i);
    expect([w.quantile(0.5), w.quantile(0.95), w.count]).toEqual([50, 95, 100]);
    for (let i = 0; i < 100; i++) w.add(1000 + i); // the old ones fall out
    expect([w.quantile(0.5), w.quantile(0.95)]).toEqual([1049, 1094]);
  });
});
