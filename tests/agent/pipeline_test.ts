// pipelineArgv() for every source and encoder, and preflight()'s one-line errors.
import { describe, expect, test } from "bun:test";
import {
  GST_LAUNCH_FLAGS,
  pipelineArgv,
  type PipelineOptions,
  rawChain,
  shellQuote,
} from "../../agent/capture/pipeline.ts";
import { CaptureError, preflight, type PreflightProbe } from "../../agent/capture/preflight.ts";
import { parseSourceSpec } from "../../agent/capture/source_spec.ts";

const TAIL = "h264parse config-interval=-1 ! rtph264pay pt=96 mtu=1200 ! rtpstreampay ! fdsink fd=1";
const X264 =
  "videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max=15 ! video/x-h264,profile=constrained-baseline";

function options(source: string, extra: Partial<PipelineOptions> = {}): PipelineOptions {
  return {
    source: parseSourceSpec(source), v4l2Format: "raw", rtspTransport: "tcp", encoder: "x264",
    width: 640, height: 480, fps: 15, bitrate: 800, keyint: 15, ...extra,
  };
}

function text(o: PipelineOptions): string {
  const argv = pipelineArgv(o);
  expect(argv.slice(0, 2)).toEqual(GST_LAUNCH_FLAGS);
  return argv.slice(2).join(" ");
}

describe("pipelineArgv()", () => {
  test("test source: live videotestsrc with a clock overlay, x264 I420 → constrained baseline", () => {
    expect(text(options("test"))).toBe(
      "videotestsrc is-live=true pattern=smpte ! video/x-raw,width=640,height=480,framerate=15/1 ! " +
        `clockoverlay halignment=right valignment=bottom shaded-background=true ! ${X264} ! ${TAIL}`,
    );
  });

  test("v4l2 raw: camera caps → encoder", () => {
    expect(text(options("v4l2:/dev/video0"))).toBe(
      `v4l2src device="/dev/video0" ! video/x-raw,width=640,height=480,framerate=15/1 ! ${X264} ! ${TAIL}`,
    );
  });

  test("v4l2 h264: no re-encode", () => {
    expect(text(options("v4l2:/dev/video1", { v4l2Format: "h264" }))).toBe(
      `v4l2src device="/dev/video1" ! video/x-h264,width=640,height=480,framerate=15/1 ! ${TAIL}`,
    );
  });

  test("udp: RTP caps, large buffer, depay, no re-encode", () => {
    expect(text(options("udp:5004"))).toBe(
      "udpsrc port=5004 buffer-size=8388608 caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000 ! " +
        `rtph264depay ! ${TAIL}`,
    );
    expect(text(options("udp:239.1.1.1:5004"))).toContain('udpsrc port=5004 address="239.1.1.1" ');
  });

  test("rtsp: transport as configured, depay, no re-encode", () => {
    expect(text(options("rtsp://cam.local:8554/front", { rtspTransport: "udp" }))).toBe(
      `rtspsrc location="rtsp://cam.local:8554/front" protocols=udp latency=100 ! rtph264depay ! ${TAIL}`,
    );
  });

  test("file: mp4 via qtdemux, mkv via matroskademux, raw .h264 at --fps, others via parsebin; paced by the clock", () => {
    const synced = TAIL.replace("fdsink fd=1", "fdsink fd=1 sync=true");
    expect(text(options("file:/v/a.mp4"))).toBe(`filesrc location="/v/a.mp4" ! qtdemux ! ${synced}`);
    expect(text(options("file:/v/a.mkv"))).toBe(`filesrc location="/v/a.mkv" ! matroskademux ! ${synced}`);
    expect(text(options("file:/v/a.h264"))).toBe(
      `filesrc location="/v/a.h264" ! video/x-h264,stream-format=byte-stream,framerate=15/1 ! ${synced}`,
    );
    expect(text(options("file:/v/a.ts"))).toBe(`filesrc location="/v/a.ts" ! parsebin ! video/x-h264 ! ${synced}`);
  });

  test("hardware encoders", () => {
    const enc = (encoder: PipelineOptions["encoder"]) => text(options("test", { encoder }));
    expect(enc("nvh264")).toContain("videoconvert ! nvh264enc zerolatency=true bframes=0 bitrate=800 gop-size=15 ! video/x-h264,profile=constrained-baseline ! h264parse");
    expect(enc("vaapih264")).toContain("videoconvert ! vaapih264enc rate-control=cbr bitrate=800 keyframe-period=15 ! video/x-h264,profile=constrained-baseline ! h264parse");
    expect(enc("v4l2h264")).toContain("videoconvert ! v4l2h264enc extra-controls=controls,video_bitrate=800000,h264_i_frame_period=15 ! video/x-h264,profile=baseline ! h264parse");
  });

  test("rawChain() is what follows the camera caps", () => {
    expect(rawChain(options("test")).map((e) => e.join(" ")).join(" ! ")).toBe(`${X264} ! ${TAIL}`);
  });

  test("shellQuote() quotes what a shell would split", () => {
    expect(shellQuote(["gst-launch-1.0", "a", "!", "b=c d"])).toBe("gst-launch-1.0 a '!' 'b=c d'");
  });
});

describe("preflight()", () => {
  const probe = (files: string[], elements: string[] | undefined): PreflightProbe => ({
    fileExists: (p) => files.includes(p),
    hasElement: (e) => Promise.resolve(elements === undefined ? undefined : elements.includes(e)),
  });

  test("a missing camera is one clear line", async () => {
    const error = await preflight(options("v4l2:/dev/video7"), probe([], ["x264enc"])).catch((e) => e);
    expect(error).toBeInstanceOf(CaptureError);
    expect(error.message).toBe('--source "v4l2:/dev/video7": no such device "/dev/video7" (is the camera plugged in?)');
  });

  test("a missing file is one clear line", async () => {
    const error = await preflight(options("file:/nope.mp4"), probe([], [])).catch((e) => e);
    expect(error.message).toBe('--source "file:/nope.mp4": no such file "/nope.mp4"');
  });

  test("a hardware encoder is chosen only when gst-inspect finds it", async () => {
    const error = await preflight(options("test", { encoder: "nvh264" }), probe([], ["x264enc"])).catch((e) => e);
    expect(error.message).toBe('--encoder "nvh264": GStreamer element "nvh264enc" is not available on this machine');
    await preflight(options("test", { encoder: "vaapih264" }), probe([], ["vaapih264enc"]));
  });

  test("H.264 sources need no encoder", async () => {
    await preflight(options("udp:5000", { encoder: "nvh264" }), probe([], []));
    await preflight(options("v4l2:/dev/video0", { v4l2Format: "h264", encoder: "nvh264" }), probe(["/dev/video0"], []));
  });

  test("no gst-inspect at all says what to install", async () => {
    const error = await preflight(options("test"), probe([], undefined)).catch((e) => e);
    expect(error.message).toBe("gst-inspect-1.0 not found: install gstreamer1.0-tools");
  });
});
