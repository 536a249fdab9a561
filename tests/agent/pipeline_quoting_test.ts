// gst-launch-1.0 re-joins its argv: a value with '"' could close the quotes and add elements
// (`--source 'rtsp://cam/a" ! filesink location=/tmp/p name="b'`). Values the user gives are
// quoted (spaces and '!' then stay in the value) and '"', '\' and control characters are refused.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipelineArgv, type PipelineOptions } from "../../agent/capture/pipeline.ts";
import { parseSourceSpec } from "../../agent/capture/source_spec.ts";

const dir = join(tmpdir(), `vsb-quoting-${process.pid}`, "a dir! with = signs");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(join(tmpdir(), `vsb-quoting-${process.pid}`), { recursive: true, force: true }));
const hasGst = spawnSync("gst-launch-1.0", ["--version"]).status === 0;
const run = hasGst ? test : test.skip;
if (!hasGst) console.log("skipped the real gst-launch quoting test: gst-launch-1.0 is not installed (run make setup)");

function options(source: string): PipelineOptions {
  return {
    source: parseSourceSpec(source), v4l2Format: "raw", rtspTransport: "tcp", encoder: "x264",
    width: 320, height: 240, fps: 15, bitrate: 300, keyint: 15,
  };
}

describe("gst pipeline values", () => {
  test("'\"', '\\' and control characters are refused in every kind of source, naming it", () => {
    for (const source of [
      'rtsp://cam/a" ! filesink location=/tmp/p name="b', "rtsp://cam/a\\b", "file:/v/a\"b.mp4", "file:/v/a\\b.mp4",
      "v4l2:/dev/video0\" ! fakesink", "file:/v/a\nb.mp4", "udp:1.2.3.4\":5000",
    ]) {
      expect(() => parseSourceSpec(source)).toThrow(/has a '"', '\\' or control character/);
    }
  });

  test("spaces and '!' in a path stay inside one quoted value", () => {
    const argv = pipelineArgv(options("file:/v/my clip! 1.h264"));
    expect(argv).toContain('location="/v/my clip! 1.h264"');
  });

  run("real gst-launch-1.0 reads a file whose path has spaces, '!' and '=', and adds no element", () => {
    const file = join(dir, "clip ! x.h264");
    const made = spawnSync("gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=15", "!", "video/x-raw,format=I420,width=320,height=240",
      "!", "x264enc", "!", "video/x-h264,profile=constrained-baseline,stream-format=byte-stream", "!", "filesink", `location="${file}"`]);
    expect(made.status).toBe(0);
    const argv = pipelineArgv(options(`file:${file}`));
    const played = spawnSync("gst-launch-1.0", argv, { timeout: 30_000, maxBuffer: 64 << 20 });
    expect(played.stderr.toString()).toBe("");
    expect(played.status).toBe(0);
    expect(played.stdout.length).toBeGreaterThan(1000); // RTP of the whole file on stdout
  });

  run("the injection from the issue, if it got past the check, would add a filesink: the check is what stops it", () => {
    const target = join(tmpdir(), `vsb-quoting-${process.pid}`, "pwned");
    const evil = `location=/nowhere" ! filesink location=${target} name="b`;
    spawnSync("gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=3", "!", "fakesink", evil], { timeout: 30_000 });
    const unquoted = spawnSync("gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=3", "!", "fakesink", `name=x" ! filesink location=${target} name="b`], { timeout: 30_000 });
    // gst parsed a second element out of one argv value: it names the link it could not make.
    expect(unquoted.stderr.toString() + unquoted.stdout.toString()).toContain('could not link x" to "b');
    expect(() => parseSourceSpec(`rtsp://cam/a" ! filesink location=${target} name="b`)).toThrow();
    expect(existsSync(target)).toBe(false);
  });
});
