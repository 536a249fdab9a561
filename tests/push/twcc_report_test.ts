// twccReport(): the agent reads the proxy's transport-cc feedback (proxy/webrtc/twcc_feedback.ts)
// itself, not through werift's packetResults (a phantom received result after each run).
import { describe, expect, test } from "bun:test";
import { RtcpPacketConverter, type RtcpTransportLayerFeedback, TransportWideCC } from "werift";
import { twccReport } from "../../agent/push/twcc_report.ts";
import { TwccFeedback } from "../../proxy/webrtc/twcc_feedback.ts";

const parse = (bytes: Uint8Array) =>
  (RtcpPacketConverter.deSerialize(Buffer.from(bytes))[0] as RtcpTransportLayerFeedback).feedback as TransportWideCC;

describe("twccReport()", () => {
  test("every packet of the proxy's feedback once, numbered from the base and wrapped, lost ones not received, deltas in µs", () => {
    const fb = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2, maxPackets: 11 });
    const out: Uint8Array[] = [];
    // 65533 … 65535, 0, 1 arrive 1 ms apart; 2 is lost; 3 … 5 arrive after it.
    const arrivals: [number, number][] = [[65533, 1_000_000], [65534, 1_001_000], [65535, 1_002_000], [0, 1_003_000], [1, 1_004_000], [3, 1_006_000], [4, 1_007_000], [5, 1_008_000]];
    for (const [seq, at] of arrivals) out.push(...fb.add(seq, at));
    out.push(...fb.add(6, 1_200_000)); // later: what came before is due
    const reports = out.map((bytes) => twccReport(parse(bytes)));
    const results = reports.flatMap((r) => r.results);
    // Up to 5: nothing twice, nothing phantom.
    const upTo5 = results.filter((r) => r.sequenceNumber >= 65533 || r.sequenceNumber <= 5);
    expect(upTo5.map((r) => r.sequenceNumber)).toEqual([65533, 65534, 65535, 0, 1, 2, 3, 4, 5]);
    expect(upTo5.map((r) => r.received)).toEqual([true, true, true, true, true, false, true, true, true]);
    // Arrival = reference × 64 ms + the deltas of that feedback.
    const times = new Map<number, number>();
    for (const r of reports) {
      let at = r.referenceTime * 64_000;
      for (const x of r.results) if (x.received) times.set(x.sequenceNumber, (at += x.delta!));
    }
    expect(times.get(65534)! - times.get(65533)!).toBe(1000);
    expect(times.get(3)! - times.get(1)!).toBe(2000);
    expect(times.get(5)! - times.get(65533)!).toBe(8000);
  });
});
