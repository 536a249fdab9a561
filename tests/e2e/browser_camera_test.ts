// A browser as the camera (issue 7): headless Chromium's fake camera pushes over WHIP with its
// own offer to the real vsb-proxy process; its frames reach a real RabbitMQ, one message per
// access unit with no seq gap, and the bodies decode 1:1 with avdec_h264. This is how an
// operator checks a MEC from a laptop without an agent.
import { afterAll, describe, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HEADER } from "../../shared/mod.ts";
import { FAKE_CAMERA_FLAGS, hasChromium, launchChromium } from "../support/chromium.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { consumeFrames, decodedPictures, register, startProxyProcess } from "./media_harness.ts";
import { waitFor } from "./whip_harness.ts";

const it = skipUnless(hasChromium() && hasRabbit() && hasElements("avdec_h264", "h264parse"),
  "needs /usr/bin/chromium, RabbitMQ and GStreamer's avdec_h264");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

/** Runs in the page: a minimal non-trickle WHIP client (RFC 9725) on the fake camera. */
async function pushFromPage(args: { url: string; token: string; seconds: number }) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 30 } });
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const res = await fetch(args.url, {
    method: "POST",
    headers: { "content-type": "application/sdp", authorization: `Bearer ${args.token}` },
    body: pc.localDescription!.sdp,
  });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer };
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  await new Promise((r) => setTimeout(r, args.seconds * 1000));
  const state = pc.connectionState;
  const del = await fetch(new URL(res.headers.get("location")!, args.url), { method: "DELETE", headers: { authorization: `Bearer ${args.token}` } });
  pc.close();
  return { status: res.status, state, deleteStatus: del.status };
}

describe("a browser as the camera", () => {
  it("Chromium's fake camera → WHIP → vsb-proxy → one RabbitMQ message per frame, decodable", async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyProcess(rabbit.amqpUrl, ["--send-policy", "always"]);
    cleanups.push(() => proxy.stop());
    const reg = await register(proxy.base);
    const frames = await consumeFrames(rabbit.amqpUrl, reg.id);
    cleanups.push(() => frames.close());
    const chrome = await launchChromium(FAKE_CAMERA_FLAGS);
    cleanups.push(() => chrome.close());

    const page = await chrome.browser.newPage();
    await page.goto(`${proxy.base}/health`); // same origin as the WHIP endpoint
    const result = await page.evaluate(pushFromPage, { url: reg.ingest.whipUrl, token: reg.ingest.token, seconds: 5 });
    expect(result).toMatchObject({ status: 201, state: "connected", deleteStatus: 200 });

    expect(await waitFor(() => frames.got.length >= 60, 5000)).toBe(true);
    const first = frames.got[0]!.headers;
    expect(first[HEADER.keyframe]).toBe(true);
    expect(Number(first[HEADER.width])).toBeGreaterThan(0);
    const seqs = frames.got.map((g) => Number(g.headers[HEADER.seq]));
    seqs.forEach((seq, i) => expect(seq).toBe(seqs[0]! + i));

    const dir = tempDir("vsb-browser-cam-");
    const file = join(dir.path, "chromium.h264");
    writeFileSync(file, Buffer.concat(frames.got.map((g) => g.body)));
    expect(await decodedPictures(file)).toBe(frames.got.length);
  }, 90_000);
});
