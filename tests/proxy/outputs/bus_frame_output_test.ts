// BusFrameOutput with a real Publisher whose broker is away (never started): the dataflow's
// lane holds `--publish-queue-seconds` of video, then frames are dropped and counted, every
// P-frame until the next keyframe too, and the first drop asks for a keyframe. A frame lost
// after it was written (as the Publisher reports one whose connection died before the confirm)
// also makes it resume only at a keyframe. Queued messages carry exactly the frame headers of
// the wire contract, plus the same fields as an AMQP 1.0 application-properties section.
import { describe, expect, test } from "bun:test";
import { BusConnection } from "../../../proxy/bus/bus_connection.ts";
import { Publisher } from "../../../proxy/bus/publisher.ts";
import { configureLog } from "../../../proxy/log.ts";
import type { AccessUnit } from "../../../proxy/media/frame_assembler.ts";
import { BusFrameOutput, frameLaneName } from "../../../proxy/outputs/bus_frame_output.ts";
import { encodeAppProperties } from "../../../proxy/bus/amqp10_app_properties.ts";
import { PropertiesWriter } from "../../../proxy/bus/amqp10_properties.ts";
import { AMQP10_HEADER, DataflowMetadataSchema, FrameHeadersSchema, VIDEO_EXCHANGE, videoRoutingKey } from "../../../shared/mod.ts";
import { agentBody } from "../sensor_body.ts";

configureLog({ level: "silent" });
const metadata = DataflowMetadataSchema.parse(agentBody());
const ctx = { dataflowId: 9, sessionId: "s" };

function unit(seq: number, keyframe: boolean): AccessUnit {
  const data = new Uint8Array(1000).fill(seq & 0xff);
  return { data, nals: [data], keyframe, rtpTimestamp: seq * 3000, seq, firstPacketArrivalMs: 1_700_000_000_000 + seq, width: 320, height: 240 };
}

function setUp(options: { ended?: boolean } = {}) {
  const publisher = new Publisher(new BusConnection({ url: "amqp://127.0.0.1:1" }));
  const out = new BusFrameOutput(9, { publisher, metadata: () => (options.ended ? undefined : metadata), queueSeconds: 1 });
  out.sessionStarted();
  return { publisher, out };
}

describe("BusFrameOutput", () => {
  test("queues one message per frame with every frame header, on video.{dataSubType}.{id}", () => {
    const { publisher, out } = setUp();
    out.push(unit(0, true), ctx);
    out.push(unit(1, false), ctx);
    const lane = publisher.lane(frameLaneName(9), { maxMessages: 1, maxBytes: 1 });
    const first = lane.shift()!.msg;
    expect(first.exchange).toBe(VIDEO_EXCHANGE);
    expect(first.routingKey).toBe(videoRoutingKey("h264", 9));
    const { [AMQP10_HEADER.applicationProperties]: app, [AMQP10_HEADER.properties]: props, ...rest } = first.headers!;
    const h = FrameHeadersSchema.strict().parse(rest);
    expect([h.seq, h.keyframe, h.body_size, h.width, h.height, h.sourceId, h.rtpTimestamp]).toEqual([0, true, 1000, 320, 240, 9, 0]);
    // The constant prefix + per-frame tail is the same section as encoding every field at once.
    expect(app).toEqual(encodeAppProperties(h));
    expect(props).toEqual(new PropertiesWriter({ subject: first.routingKey, contentType: "video/h264" }).write(h.receiveTime));
    expect(FrameHeadersSchema.parse(lane.shift()!.msg.headers).seq).toBe(1);
  });

  test("a full lane drops the frame and every P-frame up to the next keyframe, and asks for one", () => {
    const { out } = setUp();
    const fps = metadata.videoInfo?.fps ?? 30; // 1 s of video fits
    const verdicts = Array.from({ length: fps + 5 }, (_, i) => out.push(unit(i, i === 0), ctx));
    expect(out.queued).toBe(fps);
    expect(verdicts[fps]).toBe("keyframe");
    expect(verdicts.slice(fps + 1)).toEqual([undefined, undefined, undefined, undefined]);
    expect(out.dropped).toEqual({ "queue-full": 1, "after-queue-full": 4, "no-metadata": 0, unconfirmed: 0, "after-loss": 0 });
    // A keyframe still finds the lane full: dropped as queue-full, a new keyframe asked for.
    expect(out.push(unit(100, true), ctx)).toBe("keyframe");
    expect(out.dropped["queue-full"]).toBe(2);
  });

  test("a written frame lost before its confirm: queued P-frames go, and publishing resumes at a keyframe it asks for", () => {
    const { publisher, out } = setUp();
    const lane = publisher.lane(frameLaneName(9), { maxMessages: 100, maxBytes: 1_000_000 });
    const seqsIn = () => {
      const all: number[] = [];
      for (let q = lane.shift(); q; q = lane.shift()) all.push(FrameHeadersSchema.parse(q.msg.headers).seq);
      return all;
    };
    [0, 1, 2, 3].forEach((i) => out.push(unit(i, i === 0), ctx));
    // What the Publisher does with a frame it wrote when the connection dies before the confirm.
    lane.drop(lane.shift()!, "nack");
    expect(lane.depth).toBe(0); // P-frames 1-3 reference the lost keyframe
    expect(out.dropped).toMatchObject({ unconfirmed: 1, "after-loss": 3 });
    expect(out.push(unit(4, false), ctx)).toBe("keyframe"); // asked for once
    expect(out.push(unit(5, false), ctx)).toBeUndefined();
    expect(out.dropped["after-loss"]).toBe(5);
    out.push(unit(6, true), ctx);
    out.push(unit(7, false), ctx);
    expect(seqsIn()).toEqual([6, 7]);

    // A keyframe already queued behind the lost frame: publishing goes on from it.
    [10, 11, 12, 13, 14].forEach((i) => out.push(unit(i, i === 10 || i === 12), ctx));
    lane.drop(lane.shift()!, "nack"); // frame 10
    expect(out.push(unit(15, false), ctx)).toBeUndefined();
    expect(seqsIn()).toEqual([12, 13, 14, 15]);
    expect(out.dropped).toMatchObject({ unconfirmed: 2, "after-loss": 6 });
    expect(out.queued).toBe(12);
  });

  test("close() drops what the lane holds, counted as unconfirmed; no metadata is counted too", () => {
    const { out } = setUp();
    out.push(unit(0, true), ctx);
    out.push(unit(1, false), ctx);
    out.close();
    expect(out.dropped.unconfirmed).toBe(2);
    const gone = setUp({ ended: true }).out;
    gone.push(unit(0, true), ctx);
    expect(gone.dropped["no-metadata"]).toBe(1);
  });
});
