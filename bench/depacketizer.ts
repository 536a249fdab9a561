// Throughput of the ingest media core (FrameAssembler: parse → jitter buffer → RFC 6184
// depacketizer → Annex-B) on captured RTP, against GStreamer's rtph264depay on the same packets.
// Prints one JSON line.
//
//   bun bench/depacketizer.ts                 the 320x240 test fixture
//   bun bench/depacketizer.ts --720p          a 1280x720 30 fps ~4 Mbit/s capture, made once by
//                                             gst into the temp dir (the encoder is not timed)
//   bun bench/depacketizer.ts FILE.rtp        any RFC 4571 framed H.264 RTP capture
//
// CPU is process user+sys time (process.cpuUsage) for ours and bash's `time` for gst-launch,
// minus gst's start-up cost measured on a one-round file. Target (issue 5): CPU per stream
// ≤ 1.5 × rtph264depay's.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FrameAssembler } from "../proxy/media/frame_assembler.ts";
import { parseRtpPacket, type RtpPacket } from "../proxy/media/rtp_packet.ts";

const FIXTURE = join(import.meta.dir, "../tests/fixtures/h264_320x240_single_slice.rtp");
const MIN_PACKETS = 400_000;

function capturePath(args: string[]): string {
  if (args.includes("--720p")) return make720p();
  return args.find((a) => !a.startsWith("--")) ?? FIXTURE;
}

/** A 10 s 1280x720 capture like the one `make bench-proxy` replays (made once, cached). */
function make720p(): string {
  const path = join(tmpdir(), "vsb_bench_h264_1280x720.rtp");
  if (existsSync(path)) return path;
  const run = spawnSync("sh", ["-c", [
    "gst-launch-1.0 -q videotestsrc num-buffers=300 pattern=smpte horizontal-speed=8",
    "! video/x-raw,format=I420,width=1280,height=720,framerate=30/1",
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=4000",
    "! video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1",
    `! rtph264pay mtu=1200 pt=96 ! rtpstreampay ! filesink location=${path}`,
  ].join(" ")], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`gst-launch-1.0 failed to make "${path}": ${run.stderr}`);
  return path;
}

function readRfc4571(path: string): Uint8Array[] {
  const bytes = new Uint8Array(readFileSync(path));
  const packets: Uint8Array[] = [];
  for (let o = 0; o + 2 <= bytes.length;) {
    const n = (bytes[o]! << 8) | bytes[o + 1]!;
    packets.push(bytes.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return packets;
}

/** The capture repeated with running sequence numbers and timestamps, as one long stream. */
function repeat(packets: Uint8Array[], rounds: number): Uint8Array[] {
  const first = parseRtpPacket(packets[0]!) as RtpPacket;
  const last = parseRtpPacket(packets.at(-1)!) as RtpPacket;
  const span = ((last.timestamp - first.timestamp) >>> 0) + 3000;
  const out: Uint8Array[] = [];
  let seq = first.sequenceNumber;
  for (let r = 0; r < rounds; r++) {
    for (const p of packets) {
      const copy = p.slice();
      const view = new DataView(copy.buffer);
      view.setUint16(2, seq++ & 0xffff);
      view.setUint32(4, (view.getUint32(4) + r * span) >>> 0);
      out.push(copy);
    }
  }
  return out;
}

function timeOurs(stream: Uint8Array[]) {
  const a = new FrameAssembler({ payloadType: 96 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let frames = 0;
  for (let i = 0; i < stream.length; i++) frames += a.push(stream[i]!, i).frames.length;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuS: (cpu.user + cpu.system) / 1e6, wallMs, frames, counters: a.counters };
}

/** CPU seconds (user+sys) of rtph264depay on `stream`, minus start-up; undefined without gst. */
function timeGst(stream: Uint8Array[], oneRound: Uint8Array[]): number | undefined {
  if (spawnSync("gst-inspect-1.0", ["rtph264depay"], { stdio: "ignore" }).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "vsb-bench-"));
  try {
    const cpu = (packets: Uint8Array[]) => {
      const file = join(dir, `${packets.length}.rtp`);
      writeFileSync(file, frame4571(packets));
      const pipeline = `gst-launch-1.0 -q filesrc location=${file} ! ` +
        "application/x-rtp-stream,media=video,clock-rate=90000,encoding-name=H264,payload=96 ! " +
        "rtpstreamdepay ! rtph264depay ! h264parse ! fakesink";
      const run = spawnSync("bash", ["-c", `TIMEFORMAT='%U %S'; time ${pipeline}`], { encoding: "utf8" });
      if (run.status !== 0) throw new Error(`gst-launch-1.0 failed: ${run.stderr}`);
      const [user, sys] = run.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
      return user! + sys!;
    };
    return Math.max(cpu(stream) - cpu(oneRound), 1e-6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function frame4571(packets: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(packets.reduce((n, p) => n + 2 + p.length, 0));
  let o = 0;
  for (const p of packets) {
    out[o] = p.length >> 8;
    out[o + 1] = p.length & 0xff;
    out.set(p, o + 2);
    o += 2 + p.length;
  }
  return out;
}

const path = capturePath(process.argv.slice(2));
const capture = readRfc4571(path);
const stream = repeat(capture, Math.max(1, Math.ceil(MIN_PACKETS / capture.length)));
timeOurs(stream.slice(0, 50_000)); // warm up the JIT
const ours = timeOurs(stream);
const bytes = stream.reduce((n, p) => n + p.length, 0);
const gstCpuS = timeGst(stream, capture);
const mbit = (bytes * 8) / 1e6;
console.log(JSON.stringify({
  capture: path,
  packets: stream.length,
  frames: ours.frames,
  framesDropped: Object.values(ours.counters.framesDropped).reduce((x, y) => x + y, 0),
  cpuS: round(ours.cpuS),
  packetsPerS: Math.round(stream.length / ours.cpuS),
  mbitPerCpuS: round(mbit / ours.cpuS),
  streams4MbitPerCore: Math.floor(mbit / ours.cpuS / 4),
  gstRtph264depayCpuS: gstCpuS === undefined ? null : round(gstCpuS),
  ratioToGst: gstCpuS === undefined ? null : round(ours.cpuS / gstCpuS),
}));

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
