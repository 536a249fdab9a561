// The bar for --max-access-unit-bytes: "200k same-timestamp packets leave RSS flat".
// Drives the proxy's own per-session sink (DataflowStream, what MediaStreams gives the WHIP
// ingest) with werift RtpPackets as werift hands them over after SRTP: 200 000 packets of
// ~1200 bytes, one timestamp, no marker (240 MB if kept), each payload a buffer of its own.
import { describe, expect, test } from "bun:test";
import { RtpHeader, RtpPacket } from "werift";
import { configureLog, logger } from "../../../proxy/log.ts";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";
import { DataflowStream } from "../../../proxy/stream/dataflow_stream.ts";
import type { FrameOutput } from "../../../proxy/stream/frame_output.ts";

const SPS = Buffer.from("6742c00dd90141fb016a0c0c0d4a000003000200000300791e285490", "hex");
const PPS = Buffer.from([0x68, 0xcb, 0x8c, 0xb2]);
const MiB = 1024 * 1024;

const stapA = (...nals: Buffer[]) => Buffer.concat([Buffer.from([0x78]), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);

class Collect implements FrameOutput {
  readonly name = "collect";
  readonly dropped = {};
  readonly units: AccessUnit[] = [];
  push(unit: AccessUnit): void {
    this.units.push(unit);
  }
}

function rss(): number {
  Bun.gc(true);
  return process.memoryUsage().rss;
}

describe("--max-access-unit-bytes on the ingest path", () => {
  test("200k same-timestamp packets without a marker leave RSS flat; one warning; the next keyframe comes out", () => {
    const lines: string[] = [];
    configureLog({ level: "warn", sink: (line) => lines.push(line) });
    try {
      const stream = new DataflowStream(9, { log: logger("media"), published: () => 0 });
      const out = new Collect();
      stream.add(out);
      const sink = stream.attach({ dataflowId: 9, sessionId: "s", payloadType: 96 });
      let seq = 0;
      const send = (payload: Buffer, timestamp: number, marker: boolean, arrivalMs: number) => {
        const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp, ssrc: 0x1234, marker });
        return sink.onRtp!(new RtpPacket(header, payload), arrivalMs);
      };
      const idr = () => Buffer.concat([Buffer.from([0x65, 0x88]), Buffer.alloc(1000, 7)]);
      send(stapA(SPS, PPS), 0, false, 0);
      send(idr(), 0, true, 0);
      expect(out.units).toHaveLength(1);

      const before = rss();
      let peak = before;
      let plis = 0;
      for (let i = 0; i < 200_000; i++) {
        const slice = Buffer.alloc(1200, 0x33); // a P slice, first_mb_in_slice = 0
        slice[0] = 0x41;
        slice[1] = 0x9a;
        if (send(slice, 3000, false, 40 + i / 100)?.pli) plis++;
        // What is retained (after a full GC), not the garbage this loop makes itself: unforced
        // samples measure the collector's timing (+156 MiB in a busy full-suite process).
        if (i % 20_000 === 19_999) peak = Math.max(peak, rss());
      }
      const after = rss();
      peak = Math.max(peak, after);
      console.log(`rss after gc: before ${(before / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, after ${(after / MiB).toFixed(1)} MiB`);
      expect(peak - before).toBeLessThan(64 * MiB);
      const c = stream.counters!;
      expect(c.framesDropped.oversize).toBe(1);
      expect(plis).toBe(1);
      expect(lines.filter((l) => l.includes("max-access-unit-bytes"))).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", dataflowId: 9, sessionId: "s", maxAccessUnitBytes: 4 * MiB, dropped: 1 });

      // A new timestamp with a keyframe (what the PLI asked for) comes out whole.
      send(stapA(SPS, PPS), 6000, false, 3000);
      send(idr(), 6000, true, 3000);
      expect(out.units).toHaveLength(2);
      expect(out.units[1]).toMatchObject({ keyframe: true, rtpTimestamp: 6000 });
    } finally {
      configureLog({ level: "silent", sink: (line) => void process.stderr.write(line) });
    }
  }, 120_000);
});
