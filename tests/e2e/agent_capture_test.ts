// The agent's capture on real GStreamer: every source kind runs its real pipeline (from
// pipelineArgv()), the RTP it writes to stdout is read through RFC 4571 framing, and the
// packets decode to frames of the expected size.
import { afterAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { linkElements, pipelineArgv, type PipelineOptions, rawChain } from "../../agent/capture/pipeline.ts";
import { parseSourceSpec } from "../../agent/capture/source_spec.ts";
import { hasElements, hasRtspServer, hasVideoDevice, skipUnless } from "../support/gst.ts";
import { freePort, freeUdpPort } from "../support/ports.ts";
import { spawnTracked, waitUntil } from "../support/procs.ts";
import { decodedFrames, nalTypes, startCapture, waitFrames } from "./agent_capture_harness.ts";

const W = 320;
const H = 240;
const dir = mkdtempSync(join(tmpdir(), "vsb-capture-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function options(source: string, extra: Partial<PipelineOptions> = {}): PipelineOptions {
  return {
    source: parseSourceSpec(source), v4l2Format: "raw", rtspTransport: "tcp", encoder: "x264",
    width: W, height: H, fps: 30, bitrate: 500, keyint: 30, ...extra,
  };
}

async function expectDecodable(packets: Uint8Array[], minFrames: number) {
  const types = nalTypes(packets);
  expect(types.has(7)).toBe(true); // SPS, repeated by h264parse config-interval=-1
  expect(types.has(5)).toBe(true); // IDR
  expect(await decodedFrames(packets, W, H)).toBeGreaterThanOrEqual(minFrames);
}

const gst = hasElements("x264enc", "rtpstreampay", "rtpstreamdepay", "avdec_h264", "clockoverlay");
const run = skipUnless(gst, "GStreamer with x264enc, rtpstreampay, avdec_h264 and clockoverlay is not installed");

describe("agent capture on real GStreamer", () => {
  run("source test: live pattern → x264 → RTP on stdout, decodable", async () => {
    const c = startCapture(pipelineArgv(options("test")));
    await waitFrames(c, 30);
    await c.supervisor.stop();
    await expectDecodable(c.packets, 25);
  }, 60_000);

  run("v4l2 chain: the camera's raw caps (YUY2) through the same encoder chain", async () => {
    const argv = ["-q", "-e", ...linkElements([
      ["videotestsrc", "is-live=true"],
      [`video/x-raw,format=YUY2,width=${W},height=${H},framerate=30/1`],
      ...rawChain(options("v4l2:/dev/video0")),
    ])];
    const c = startCapture(argv);
    await waitFrames(c, 20);
    await c.supervisor.stop();
    await expectDecodable(c.packets, 15);
  }, 60_000);

  skipUnless(hasVideoDevice(), "no /dev/video* on this machine: the real-camera test cannot run (CI does not cover it)")(
    "v4l2 on a real camera",
    async () => {
      const c = startCapture(pipelineArgv(options("v4l2:/dev/video0", { width: 640, height: 480 })));
      await waitFrames(c, 10, 15_000);
      await c.supervisor.stop();
      expect(nalTypes(c.packets).has(5)).toBe(true);
    },
  );

  run("source udp: RTP/H.264 from a gst sender, no re-encode", async () => {
    const port = await freeUdpPort();
    const c = startCapture(pipelineArgv(options(`udp:127.0.0.1:${port}`)));
    const sender = spawnTracked("gst-launch-1.0", [
      "-q", "videotestsrc", "is-live=true", "!", `video/x-raw,width=${W},height=${H},framerate=30/1`, "!", "videoconvert", "!",
      "video/x-raw,format=I420", "!", "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=15", "!",
      "video/x-h264,profile=constrained-baseline", "!", "rtph264pay", "pt=96", "!", "udpsink", "host=127.0.0.1", `port=${port}`,
    ], { name: "udp-sender" });
    await waitFrames(c, 30);
    await c.supervisor.stop();
    await sender.stop();
    await expectDecodable(c.packets, 10);
  }, 60_000);

  skipUnless(gst && hasRtspServer(), "/usr/bin/python3 cannot load GstRtspServer (python3-gi, gir1.2-gst-rtsp-server-1.0)")(
    "source rtsp: H.264 over RTSP (TCP and UDP transport) from a local gst-rtsp-server, no re-encode",
    async () => {
      const port = await freePort();
      const server = spawnTracked("/usr/bin/python3", ["tests/support/rtsp_server.py", String(port), "cam", String(W), String(H), "30"], { name: "rtsp" });
      const ready = await server.waitForLine(/^ready /, { timeoutMs: 15_000 });
      for (const rtspTransport of ["tcp", "udp"] as const) {
        const c = startCapture(pipelineArgv(options(ready.split(" ")[1]!, { rtspTransport })));
        await waitFrames(c, 30, 15_000);
        await c.supervisor.stop();
        await expectDecodable(c.packets, 10);
      }
      await server.stop();
    },
  );

  run("source file: an MP4 made by gst plays at its own pace; raw .h264 too", async () => {
    const mp4 = join(dir, "clip.mp4");
    const maker = spawnTracked("gst-launch-1.0", [
      "-q", "-e", "videotestsrc", "num-buffers=45", "!", `video/x-raw,width=${W},height=${H},framerate=30/1`, "!", "videoconvert", "!",
      "video/x-raw,format=I420", "!", "x264enc", "key-int-max=15", "!", "video/x-h264,profile=constrained-baseline", "!",
      "h264parse", "!", "mp4mux", "!", "filesink", `location=${mp4}`,
    ], { name: "mp4-maker" });
    expect((await maker.exited).code).toBe(0);
    const started = performance.now();
    const c = startCapture(pipelineArgv(options(`file:${mp4}`)));
    await waitFrames(c, 45);
    expect(performance.now() - started).toBeGreaterThan(1000); // 45 frames at 30 fps, paced, not dumped
    await c.supervisor.stop();
    await expectDecodable(c.packets, 40);
    const raw = startCapture(pipelineArgv(options("file:tests/fixtures/h264_320x240_single_slice.h264")));
    await waitFrames(raw, 20);
    await raw.supervisor.stop();
    await expectDecodable(raw.packets, 15);
  }, 60_000);

  run("--loop: a file source starts again at once when it ends", async () => {
    const c = startCapture(pipelineArgv(options("file:tests/fixtures/h264_320x240_single_slice.h264", { fps: 60 })), { loop: true });
    await waitUntilRestarts(c.supervisor, 1);
    await c.supervisor.stop();
    expect(c.log.some((l) => l.includes('"restartInMs":0'))).toBe(true);
  }, 60_000);

  run("supervisor: a killed child is restarted and packets resume within 5 s", async () => {
    const c = startCapture(pipelineArgv(options("test")));
    await waitFrames(c, 10);
    process.kill(c.supervisor.pid!, "SIGKILL");
    const before = c.frames;
    const killedAt = performance.now();
    await waitFrames(c, before + 10, 5000);
    expect(performance.now() - killedAt).toBeLessThan(5000);
    expect(c.supervisor.restarts).toBe(1);
    await c.supervisor.stop();
  }, 60_000);

  run("supervisor: a child that writes nothing is restarted after the stall time", async () => {
    const port = await freeUdpPort();
    const c = startCapture(pipelineArgv(options(`udp:127.0.0.1:${port}`)), { stallMs: 1000 });
    await waitUntilRestarts(c.supervisor, 1, 5000);
    expect(c.log.some((l) => l.includes("gst stalled"))).toBe(true);
    await c.supervisor.stop();
  }, 60_000);

  run("stop(): EOS first — the child exits by itself on SIGINT", async () => {
    const c = startCapture(pipelineArgv(options("test")));
    await waitFrames(c, 5);
    const t = performance.now();
    await c.supervisor.stop();
    expect(performance.now() - t).toBeLessThan(2000);
    expect(c.log.some((l) => l.includes('"msg":"gst exited"') && l.includes('"code":0'))).toBe(true);
  }, 60_000);
});

async function waitUntilRestarts(s: { restarts: number }, n: number, timeoutMs = 10_000) {
  await waitUntil(`${n} restart(s)`, () => s.restarts >= n, { timeoutMs });
}
