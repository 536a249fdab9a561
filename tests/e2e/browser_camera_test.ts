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
import { pushFromPage } from "./browser_whip.ts";
import { waitFor } from "./whip_harness.ts";

const it = skipUnless(hasChromium() && hasRabbit() && hasElements("avdec_h264", "h264parse"),
  "needs /usr/bin/chromium, RabbitMQ and GStreamer's avdec_h264");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

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
