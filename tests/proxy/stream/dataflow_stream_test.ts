// DataflowStream: one assembler feeds every output; state idle → starting → live → idle;
// keyframe requests reach the session as PLI; a throwing output does not stop the others;
// frame numbers continue across sessions. Driven by the captured RTP fixture.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { RtpStreamReader } from "../../../agent/push/rtp_stream_reader.ts";
import type { IngestRtpPacket } from "../../../proxy/ingest/ingest_types.ts";
import { configureLog, logger } from "../../../proxy/log.ts";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";
import { parseRtpPacket, type RtpPacket } from "../../../proxy/media/rtp_packet.ts";
import { DataflowStream } from "../../../proxy/stream/dataflow_stream.ts";
import type { FrameOutput } from "../../../proxy/stream/frame_output.ts";
import { rtpBytes } from "../../../proxy/outputs/udp_forward_output.ts";

/** The fixture's packets as the ingest hands them to sinks. */
function fixturePackets(): IngestRtpPacket[] {
  const bytes = new Uint8Array(readFileSync(new URL("../../fixtures/h264_320x240_single_slice.rtp", import.meta.url)));
  return new RtpStreamReader().push(bytes).map((raw) => {
    const p = parseRtpPacket(raw) as RtpPacket;
    return { header: p, payload: p.payload, serialize: () => raw.slice() };
  });
}

class Recorder implements FrameOutput {
  readonly name = "recorder";
  readonly dropped = {};
  readonly units: AccessUnit[] = [];
  wantKeyframeOnce = false;
  push(unit: AccessUnit): void | "keyframe" {
    this.units.push(unit);
    if (this.wantKeyframeOnce) {
      this.wantKeyframeOnce = false;
      return "keyframe";
    }
  }
}

configureLog({ level: "silent" });

function newStream() {
  return new DataflowStream(7, { log: logger("test"), published: () => 0 });
}

const info = (sessionId: string) => ({ dataflowId: 7, sessionId, payloadType: 96 });

describe("DataflowStream", () => {
  test("feeds every output from one assembler; states idle → starting → live → idle", () => {
    const stream = newStream();
    const a = new Recorder();
    const b = new Recorder();
    stream.add(a);
    stream.add(b);
    expect(stream.state).toBe("idle");
    const sink = stream.attach(info("s1"));
    expect(stream.state).toBe("starting");
    const packets = fixturePackets();
    packets.forEach((p, i) => sink.onRtp!(p, 1000 + i));
    expect(stream.state).toBe("live");
    expect(a.units.length).toBeGreaterThan(10);
    expect(b.units.map((u) => u.seq)).toEqual(a.units.map((u) => u.seq));
    expect(a.units[0]!.keyframe).toBe(true);
    sink.close("delete");
    expect(stream.state).toBe("idle");
    expect(stream.stats(2000).framesAssembled).toBe(a.units.length);
  });

  test("a throwing output is isolated; an output that wants a keyframe makes the feedback a PLI", () => {
    const stream = newStream();
    const bad: FrameOutput = { name: "bad", dropped: {}, push: () => { throw new Error("boom"); } };
    const good = new Recorder();
    stream.add(bad);
    stream.add(good);
    const sink = stream.attach(info("s1"));
    const packets = fixturePackets();
    let plis = 0;
    packets.forEach((p, i) => {
      if (i === 40) good.wantKeyframeOnce = true;
      if (sink.onRtp!(p, 1000 + i)?.pli) plis++;
    });
    expect(good.units.length).toBeGreaterThan(10);
    expect(stream.outputErrors).toBe(good.units.length);
    expect(plis).toBeGreaterThanOrEqual(1);
  });

  test("requestKeyframe() asks for a PLI on the next feedback and wakes the poll at once", () => {
    const stream = newStream();
    expect(stream.requestKeyframe()).toBe(false); // no session
    const sink = stream.attach(info("s1"));
    const packets = fixturePackets();
    sink.onRtp!(packets[0]!, 1000);
    expect(stream.requestKeyframe()).toBe(true);
    expect(sink.wakeAtMs!()).toBe(0);
    expect(sink.poll!(1001)?.pli).toBe(true);
    expect(sink.onRtp!(packets[1]!, 1002)?.pli ?? false).toBe(false);
  });

  test("frame numbers continue across sessions; an old session's close does not end the new one", () => {
    const stream = newStream();
    const rec = new Recorder();
    stream.add(rec);
    const packets = fixturePackets();
    const first = stream.attach(info("s1"));
    packets.forEach((p, i) => first.onRtp!(p, 1000 + i));
    const n = rec.units.length;
    const second = stream.attach(info("s2")); // takeover
    first.close("takeover");
    expect(stream.state).toBe("starting");
    packets.forEach((p, i) => second.onRtp!(p, 5000 + i));
    expect(rec.units.map((u) => u.seq)).toEqual([...Array(rec.units.length).keys()]);
    expect(rec.units.length).toBe(2 * n);
  });

  test("frames a session dropped at its end keep their numbers: the next session's seq jumps", () => {
    const stream = newStream();
    const rec = new Recorder();
    stream.add(rec);
    const packets = fixturePackets();
    const first = stream.attach(info("s1"));
    const victim = packets.length - 2; // a packet of the last frame: that frame is dropped
    packets.forEach((p, i) => i !== victim && first.onRtp!(p, 1000 + i));
    first.poll!(1000 + packets.length + 1000); // the loss is declared
    const numbered = stream.assembler!.framesNumbered;
    const lastSeq = rec.units.at(-1)!.seq;
    expect(numbered).toBeGreaterThan(lastSeq + 1);
    first.close("delete");
    const second = stream.attach(info("s2"));
    packets.forEach((p, i) => second.onRtp!(p, 90_000 + i * 10));
    const next = rec.units.find((u) => u.seq > lastSeq)!;
    expect(next.seq).toBe(numbered);
    expect(next.keyframe).toBe(true);
  });

  test("rtpBytes() rebuilds a packet that parses back to the same fields and payload", () => {
    for (const p of fixturePackets().slice(0, 50)) {
      const back = parseRtpPacket(rtpBytes(p)) as RtpPacket;
      expect([back.marker, back.payloadType, back.sequenceNumber, back.timestamp, back.ssrc]).toEqual([
        p.header.marker, p.header.payloadType, p.header.sequenceNumber, p.header.timestamp, p.header.ssrc,
      ]);
      expect(Buffer.from(back.payload).equals(Buffer.from(p.payload))).toBe(true);
    }
  });
});
