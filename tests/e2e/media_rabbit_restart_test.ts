// RabbitMQ stopped and restarted under a live stream (a private broker, so other tests keep
// theirs): the real `bun proxy/main.ts` does not crash, its lane holds 2 s of video and then
// drops (counted in /metrics by stage and reason), and publishing resumes by itself within 5 s
// of the broker being back, starting decodable: after every seq gap comes a keyframe.
import { afterAll, describe, expect } from "bun:test";
import { HEADER } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { hasRabbit, startRabbit } from "../support/rabbitmq.ts";
import { consumeFrames, type Got, metric, register, startProxyProcess, startSender } from "./media_harness.ts";
import { GST_ELEMENTS, waitFor } from "./whip_harness.ts";

const it = skipUnless(hasRabbit() && hasElements(...GST_ELEMENTS), "needs RabbitMQ and GStreamer (x264enc)");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

describe("media path across a RabbitMQ restart", () => {
  it("publishing resumes within 5 s of the broker's return, drops counted, no crash, decodable after gaps", async () => {
    const rabbit = await startRabbit();
    cleanups.push(() => rabbit.dispose());
    const proxy = await startProxyProcess(rabbit.amqpUrl);
    cleanups.push(() => proxy.stop());
    const reg = await register(proxy.base);
    const before = await consumeFrames(rabbit.amqpUrl, reg.id);
    cleanups.push(before.close);
    const sender = await startSender(reg);
    cleanups.push(() => sender.stop());
    expect(await waitFor(() => before.got.length >= 60, 10_000)).toBe(true);

    await rabbit.stop();
    await Bun.sleep(3500); // longer than the 2 s lane: frames must be dropped
    expect((await fetch(`${proxy.base}/ready`)).status).toBe(503);
    await rabbit.start();
    const back = performance.now();
    const after = await consumeFrames(rabbit.amqpUrl, reg.id);
    cleanups.push(after.close);
    expect(await waitFor(() => after.got.length > 0, 5000)).toBe(true);
    const resumedMs = performance.now() - back;
    expect(await waitFor(() => after.got.length >= 60, 5000)).toBe(true);

    const text = await (await fetch(`${proxy.base}/metrics`)).text();
    const queueFull = metric(text, "vsb_frames_dropped_total", '{stage="bus",reason="queue-full"}') ?? 0;
    const afterFull = metric(text, "vsb_frames_dropped_total", '{stage="bus",reason="after-queue-full"}') ?? 0;
    console.log(JSON.stringify({ rabbitRestart: { resumedMs: Math.round(resumedMs), queueFull, afterFull, before: before.got.length, after: after.got.length } }));
    expect(queueFull).toBeGreaterThan(0);
    expect(metric(text, "vsb_bus_connected")).toBe(1);
    expect((await fetch(`${proxy.base}/ready`)).status).toBe(200);
    expect(proxy.proc.exitStatus()).toBeUndefined();
    expectDecodableAfterGaps(after.got);
  }, 120_000);
});

/** Every frame that follows a missing seq is a keyframe (a consumer never gets a broken reference). */
function expectDecodableAfterGaps(got: Got[]): void {
  let gaps = 0;
  for (let i = 1; i < got.length; i++) {
    const seq = got[i]!.headers[HEADER.seq] as number;
    const prev = got[i - 1]!.headers[HEADER.seq] as number;
    expect(seq).toBeGreaterThan(prev);
    if (seq !== prev + 1) {
      gaps++;
      expect(got[i]!.headers[HEADER.keyframe]).toBe(true);
    }
  }
  expect(gaps).toBeLessThanOrEqual(2);
}
