// What the AMQP 1.0 sections cost per frame (proxy/outputs/bus_frame_output.ts): the
// application-properties map from a per-dataflow prefix + the per-frame fields, and the
// properties section (its creation-time patched in). Prints one JSON line.
//   node_modules/.bin/bun bench/amqp10_properties.ts [frames]
import { AppPropertiesWriter } from "../proxy/bus/amqp10_app_properties.ts";
import { PropertiesWriter } from "../proxy/bus/amqp10_properties.ts";
import { DataflowMetadataSchema, eventHeaders, HEADER, videoRoutingKey } from "../shared/mod.ts";
import { agentBody } from "../tests/proxy/sensor_body.ts";

const frames = Number(process.argv[2] ?? 1_000_000);
const metadata = DataflowMetadataSchema.parse(agentBody());
const { [HEADER.bodySize]: _size, ...constant } = eventHeaders(7, metadata, 0);
const app = new AppPropertiesWriter(constant, [
  HEADER.bodySize, HEADER.keyframe, HEADER.seq, HEADER.rtpTimestamp, HEADER.captureTime, HEADER.receiveTime, HEADER.width, HEADER.height,
]);
const props = new PropertiesWriter({ subject: videoRoutingKey("h264", 7), contentType: "video/h264" });
const t0 = Date.now();

function run(n: number): { ns: number; bytes: number } {
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const ms = t0 + i * 33;
    const frame = { body_size: 4000 + (i % 50_000), keyframe: i % 60 === 0, seq: i, rtpTimestamp: (i * 3000) >>> 0, captureTime: ms, receiveTime: ms, width: 1280, height: 720 };
    bytes += app.write(frame).length + props.write(ms).length;
  }
  return { ns: ((performance.now() - start) * 1e6) / n, bytes: bytes / n };
}

run(Math.min(frames, 100_000)); // warm-up (JIT)
const runs = [run(frames), run(frames), run(frames)];
const ns = runs.map((r) => r.ns).sort((a, b) => a - b);
console.log(JSON.stringify({ amqp10Properties: { frames, nsPerFrameMedian: Math.round(ns[1]!), nsPerFrameMin: Math.round(ns[0]!), bytesPerFrame: Math.round(runs[0]!.bytes) } }));
