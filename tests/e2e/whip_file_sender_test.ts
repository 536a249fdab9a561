// A WHIP sender that is not ours and cannot make a keyframe: GStreamer webrtcbin sending a
// pre-encoded .mp4 (made here with x264enc) twice in a row, through `h264parse
// alignment=nal ! rtph264pay aggregate-mode=zero-latency` — the packetization that sets the
// marker bit on the AUD, SPS, PPS and SEI packets of every keyframe and on no picture's last
// packet. Pushed over WHIP to the real `bun proxy/main.ts` with the real RabbitMQ: every frame
// of the file reaches RabbitMQ, seq without gaps, keyframes where the file has them, and the
// bodies decode 1:1. Twice: with webrtcbin's own offer (packetization-mode=1 when its payloader
// had caps when the offer was made, no fmtp at all when not: both were seen from this very
// client), and with packetization-mode taken out of the offer, so that the mode-0 case
// (RFC 6184 §8.1) is run every time: answered in mode 0, the sender's FU-A/STAP-A still taken,
// and counted.
import { afterAll, describe, expect } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FrameHeadersSchema } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitUntil } from "../support/wait.ts";
import { consumeFrames, decodedPictures, metric, register, startProxyProcess } from "./media_harness.ts";

const PYTHON = "/usr/bin/python3";
const CLIENT = new URL("./whip_webrtcbin_client.py", import.meta.url).pathname;
const FILE_FRAMES = 90; // 3 s at 30 fps, an IDR every 30
const PASSES = 2;

function haveFileSender(): boolean {
  const elements = ["webrtcbin", "x264enc", "mp4mux", "qtdemux", "h264parse", "rtph264pay", "concat", "clocksync", "avdec_h264"];
  if (!hasElements(...elements)) return false;
  if (spawnSync("gst-inspect-1.0", ["nicesrc"], { stdio: "ignore" }).status !== 0) return false;
  return spawnSync(PYTHON, ["-c", "import gi; gi.require_version('GstWebRTC', '1.0'); gi.require_version('GstSdp', '1.0')"]).status === 0;
}

const it = skipUnless(
  hasRabbit() && haveFileSender(),
  "needs RabbitMQ, GStreamer (webrtcbin, x264enc, mp4mux, qtdemux, avdec_h264), gstreamer1.0-nice and /usr/bin/python3 gi",
);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
}, 30_000);

/** Runs gst-launch-1.0 to its end; its stdout. */
async function gst(args: string[], name: string): Promise<string> {
  const p = spawnTracked("gst-launch-1.0", args, { name, keepLines: 100_000 });
  const status = await p.exited;
  if (status.code !== 0) throw new Error(`${name} exited ${status.code}: ${p.output("stderr")}`);
  return p.output("stdout");
}

describe("WHIP from a file sender (webrtcbin, pre-encoded .mp4, no keyframe on PLI)", () => {
  let mp4: Promise<Clip> | undefined;
  let proxyUp: Promise<{ amqpUrl: string; base: string }> | undefined;
  const setup = () => {
    mp4 ??= makeFile();
    proxyUp ??= (async () => {
      const rabbit = await getRabbit();
      const proxy = await startProxyProcess(rabbit.amqpUrl);
      cleanups.push(() => proxy.stop());
      return { amqpUrl: rabbit.amqpUrl, base: proxy.base };
    })();
    return Promise.all([mp4, proxyUp]);
  };

  for (const forceMode0 of [false, true]) {
    it(`${forceMode0 ? "offer without packetization-mode" : "webrtcbin's own offer"}: every frame of the file reaches RabbitMQ, seq without gaps, decodable`, async () => {
      const [clip, proxy] = await setup();
      const reg = await register(proxy.base);
      const frames = await consumeFrames(proxy.amqpUrl, reg.id);
      cleanups.push(frames.close);
      const before = await (await fetch(`${proxy.base}/metrics`)).text();

      const seconds = (PASSES * FILE_FRAMES) / 30 + 3;
      const client = spawnTracked(PYTHON, [CLIENT, reg.ingest.whipUrl, reg.ingest.token, String(seconds), clip.path], {
        name: "webrtcbin-file", env: forceMode0 ? { WHIP_OFFER_MODE0: "1" } : {},
      });
      cleanups.push(() => client.stop());
      const status = await client.exited;
      const result = JSON.parse(client.output("stdout").trim().split("\n").at(-1) || "{}");
      expect(status.code).toBe(0);
      expect(result).toMatchObject({ status: 201, state: "connected", deleteStatus: 200, error: null });
      const fmtp = (result.offerH264 as string[]).filter((l) => l.startsWith("a=fmtp:")).join(" ");
      const mode = /packetization-mode=1/.test(fmtp) ? 1 : 0;
      console.log(`webrtcbin offered ${JSON.stringify(result.offerH264)}: packetization-mode ${mode}`);
      if (forceMode0) expect(mode).toBe(0);

      // The picture that ends the last pass never gets a marker and nothing follows it at another
      // timestamp, so no packet says it is whole (RFC 6184 §5.1): it is the only one not published.
      const expected = PASSES * FILE_FRAMES - 1;
      await waitUntil(`${expected} frames on RabbitMQ`, () => frames.got.length >= expected, { timeoutMs: 10_000 });
      const text = await (await fetch(`${proxy.base}/metrics`)).text();
      const got = frames.got;
      expect(got.length).toBe(expected);
      const headers = got.map((m) => FrameHeadersSchema.parse(m.headers));
      expect(headers.map((h) => h.seq)).toEqual(got.map((_, i) => i));
      const fileKeyframes = [0, 1].flatMap((pass) => clip.keyframes.map((k) => pass * FILE_FRAMES + k));
      expect(headers.flatMap((h, i) => (h.keyframe ? [i] : []))).toEqual(fileKeyframes);
      const all = join(tempDir("vsb-file-sender-out-").path, "all.h264");
      writeFileSync(all, Buffer.concat(got.map((m) => m.body)));
      expect(await decodedPictures(all)).toBe(expected);

      const grew = (name: string, labels = "") => (metric(text, name, labels) ?? 0) - (metric(before, name, labels) ?? 0);
      for (const reason of ["after-marker", "no-picture", "awaiting-keyframe", "packet-lost"]) {
        expect(grew("vsb_frames_dropped_total", `{stage="assembler",reason="${reason}"}`)).toBe(0);
      }
      const outside = grew("vsb_rtp_packets_out_of_mode_total");
      if (mode === 1) expect(outside).toBe(0);
      else expect(outside).toBeGreaterThan(100); // every keyframe and most P-frames are FU-A
    }, 90_000);
  }
});

/** The sender's file and the indices of its sync samples (IDRs, from qtdemux's buffer flags). */
interface Clip {
  path: string;
  keyframes: number[];
}

/** A pre-encoded .mp4 of FILE_FRAMES frames, checked by the file's own sample count. */
async function makeFile(): Promise<Clip> {
  const dir = tempDir("vsb-file-sender-");
  const mp4 = join(dir.path, "clip.mp4");
  await gst([
    "-q", "videotestsrc", `num-buffers=${FILE_FRAMES}`, "pattern=smpte", "horizontal-speed=4",
    "!", "video/x-raw,format=I420,width=320,height=240,framerate=30/1",
    "!", "x264enc", "tune=zerolatency", "key-int-max=30", "bitrate=300", "threads=1",
    "!", "video/x-h264,profile=constrained-baseline", "!", "h264parse", "!", "mp4mux", "!", "filesink", `location=${mp4}`,
  ], "encode-mp4");
  const samples = (await gst(["-v", "filesrc", `location=${mp4}`, "!", "qtdemux", "!", "fakesink", "silent=false"], "count-mp4"))
    .split("\n").filter((l) => l.includes("last-message = chain"));
  if (samples.length !== FILE_FRAMES) throw new Error(`clip.mp4 has ${samples.length} samples, not ${FILE_FRAMES}`);
  const keyframes = samples.flatMap((l, i) => (l.includes("delta-unit") ? [] : [i]));
  if (keyframes[0] !== 0) throw new Error(`clip.mp4 does not start with a sync sample: ${keyframes.join(",")}`);
  return { path: mp4, keyframes };
}
