// A browser as the camera (issue 7), the way an operator does it: headless Chromium's fake
// camera on the proxy's own /camera page. The page registers a dataflow, keeps it alive and
// pushes over WHIP to the real vsb-proxy process; its frames reach a real RabbitMQ, one
// message per access unit with no seq gap, and the bodies decode 1:1 with avdec_h264. Stop
// ends the push and the registration, and consumers see terminatedataflow.
import { afterAll, describe, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { EVENTS_EXCHANGE, HEADER, PATH, ROUTE, TERMINATE_DATAFLOW, VIDEO_EXCHANGE, videoBindingPattern } from "../../shared/mod.ts";
import { FAKE_CAMERA_FLAGS, hasChromium, launchChromium } from "../support/chromium.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { consumeKey, decodedPictures, startProxyProcess } from "./media_harness.ts";
import { waitFor } from "./whip_harness.ts";

const it = skipUnless(hasChromium() && hasRabbit() && hasElements("avdec_h264", "h264parse"),
  "needs /usr/bin/chromium, RabbitMQ and GStreamer's avdec_h264");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

describe("a browser as the camera", () => {
  it("the /camera page: Chromium's fake camera → registered dataflow → WHIP → one RabbitMQ message per frame, decodable; Stop ends it", async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyProcess(rabbit.amqpUrl);
    cleanups.push(() => proxy.stop());
    const frames = await consumeKey(rabbit.amqpUrl, VIDEO_EXCHANGE, videoBindingPattern());
    cleanups.push(() => frames.close());
    const ends = await consumeKey(rabbit.amqpUrl, EVENTS_EXCHANGE, TERMINATE_DATAFLOW);
    cleanups.push(() => ends.close());
    const chrome = await launchChromium(FAKE_CAMERA_FLAGS);
    cleanups.push(() => chrome.close());

    const page = await chrome.browser.newPage();
    await page.goto(`${proxy.base}${ROUTE.camera}`);
    await page.selectOption("#size", "320x240");
    await page.click("#start");
    await page.waitForFunction(() => /: connected, 320x240/.test(document.getElementById("status")!.textContent!), undefined, { timeout: 20_000 });
    const id = Number((await page.textContent("#status"))!.match(/^dataflow (\d+)/)![1]);

    expect(await waitFor(() => frames.got.length >= 90, 10_000)).toBe(true); // 3 s at 30 fps
    const mine = frames.got.filter((g) => Number(g.headers[HEADER.sourceId]) === id);
    expect(mine.length).toBe(frames.got.length);
    expect(mine[0]!.headers[HEADER.keyframe]).toBe(true);
    expect(Number(mine[0]!.headers[HEADER.width])).toBe(320);
    expect(Number(mine[0]!.headers[HEADER.height])).toBe(240);
    const seqs = mine.map((g) => Number(g.headers[HEADER.seq]));
    seqs.forEach((seq, i) => expect(seq).toBe(seqs[0]! + i));
    const record = await (await fetch(`${proxy.base}${PATH.dataflow(id)}`)).json();
    expect(record).toMatchObject({ id, active: true, state: "live" });
    expect(record.metadata.videoInfo).toMatchObject({ source: "browser", width: 320, height: 240 });
    expect(record.metadata.dataSourceInfo.sourceLocationInfo.locationQuadkey).toBe("031333123201033303"); // derived by the proxy

    await page.click("#stop");
    await page.waitForFunction(() => /: stopped$/.test(document.getElementById("status")!.textContent!), undefined, { timeout: 10_000 });
    expect(await waitFor(() => ends.got.some((g) => JSON.parse(g.body.toString()).id === id), 5000)).toBe(true);
    expect((await (await fetch(`${proxy.base}${PATH.dataflow(id)}`)).json()).active).toBe(false);

    const file = join(tempDir("vsb-browser-cam-").path, "chromium.h264");
    writeFileSync(file, Buffer.concat(mine.map((g) => g.body)));
    expect(await decodedPictures(file)).toBe(mine.length);
  }, 90_000);
});
