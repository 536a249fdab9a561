// Shared parts of the agent capture tests: run the agent's CaptureSupervisor on a real
// gst-launch child, collect the RTP it writes, and decode those packets with GStreamer
// (so "frames arrived" means "frames decode", not just "bytes came").
import { spawn } from "node:child_process";
import { CaptureSupervisor } from "../../agent/capture/capture_supervisor.ts";
import { createLogger } from "../../agent/log.ts";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { onCleanup, sleep, waitUntil } from "../support/procs.ts";

/** What a capture run saw. */
export interface Captured {
  packets: Uint8Array[];
  frames: number;
  log: string[];
  supervisor: CaptureSupervisor;
}

/** Starts a supervised gst child for `argv` and collects its packets until `stop()`. */
export function startCapture(argv: string[], options: { stallMs?: number; loop?: boolean } = {}): Captured {
  const log: string[] = [];
  const captured: Captured = {
    packets: [],
    frames: 0,
    log,
    supervisor: new CaptureSupervisor({
      command: "gst-launch-1.0",
      argv,
      log: createLogger({}, (line) => log.push(line)),
      createReader: (onPacket) => {
        const reader = new RtpStreamReader();
        return { push: (chunk) => reader.push(chunk).forEach(onPacket) };
      },
      onPacket: (packet) => {
        captured.packets.push(packet);
        if (packet[1]! & 0x80) captured.frames++;
      },
      stallMs: options.stallMs,
      loop: options.loop,
    }),
  };
  captured.supervisor.start();
  onCleanup(() => captured.supervisor.stop());
  return captured;
}

/** Waits until `captured` holds at least `frames` frames. */
export function waitFrames(captured: Captured, frames: number, timeoutMs = 10_000): Promise<true> {
  return waitUntil(`${frames} frames from gst (log: ${captured.log.slice(-3).join(" ")})`, () => captured.frames >= frames, { timeoutMs });
}

/** NAL unit types carried by the packets (single NAL, STAP-A inner, FU-A start), RFC 6184 §5. */
export function nalTypes(packets: Uint8Array[]): Set<number> {
  const types = new Set<number>();
  for (const p of packets) {
    const offset = 12 + (p[0]! & 0x0f) * 4;
    const type = p[offset]! & 0x1f;
    if (type === 28) {
      if (p[offset + 1]! & 0x80) types.add(p[offset + 1]! & 0x1f);
    } else if (type === 24) {
      let i = offset + 1;
      while (i + 2 < p.length) {
        const size = (p[i]! << 8) | p[i + 1]!;
        types.add(p[i + 2]! & 0x1f);
        i += 2 + size;
      }
    } else {
      types.add(type);
    }
  }
  return types;
}

/** Decodes RTP/H.264 packets with gst (rtpstreamdepay → avdec_h264); resolves with the bytes of I420 it produced. */
async function decodedBytes(packets: Uint8Array[]): Promise<number> {
  const args = [
    "-q", "fdsrc", "fd=0", "!", "application/x-rtp-stream,media=video,encoding-name=H264,clock-rate=90000,payload=96", "!",
    "rtpstreamdepay", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "videoconvert", "!",
    "video/x-raw,format=I420", "!", "fdsink", "fd=1", "sync=false",
  ];
  const child = spawn("gst-launch-1.0", args, { stdio: ["pipe", "pipe", "pipe"] });
  let bytes = 0;
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (bytes += c.length));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  for (const p of packets) {
    const framed = new Uint8Array(p.length + 2);
    framed[0] = p.length >> 8;
    framed[1] = p.length & 0xff;
    framed.set(p, 2);
    child.stdin.write(framed);
  }
  child.stdin.end();
  const code = await Promise.race([exited, sleep(20_000).then(() => "timeout" as const)]);
  if (code === "timeout") child.kill("SIGKILL");
  if (code !== 0) throw new Error(`decoder exited with ${code}: ${stderr.slice(-1000)}`);
  return bytes;
}

/** Decoded I420 frames of `width`×`height` in the packets. */
export async function decodedFrames(packets: Uint8Array[], width: number, height: number): Promise<number> {
  return (await decodedBytes(packets)) / ((width * height * 3) / 2);
}
