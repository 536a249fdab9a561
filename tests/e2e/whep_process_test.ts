// WHEP and the dashboard in the real process (`bun proxy/main.ts`, as systemd runs it): `/`
// serves the page without a token, a WhipPublisher pushes a gst test pattern, and a werift
// WHEP player gets frames from a keyframe on, without a sequence gap, and ends with DELETE.
import { afterAll, describe, expect } from "bun:test";
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { PATH } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { register, startProxyProcess } from "./media_harness.ts";
import { GST_ELEMENTS, spawnGstRtp, waitFor } from "./whip_harness.ts";
import { WhepPlayer } from "./whep_player.ts";

const it = skipUnless(hasRabbit() && hasElements(...GST_ELEMENTS), "needs RabbitMQ and GStreamer (x264enc)");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

describe("WHEP in the vsb-proxy process", () => {
  it("serves the dashboard at / and plays a live dataflow over WHEP", async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyProcess(rabbit.amqpUrl);
    cleanups.push(() => proxy.stop());
    const page = await fetch(`${proxy.base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("window.vsb");

    const reg = await register(proxy.base);
    const pub = new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
    cleanups.push(() => pub.close());
    const gst = spawnGstRtp();
    cleanups.push(() => gst.stop());
    void readRtpStream(gst.child.stdout!, (p) => pub.sendRtp(p));
    await pub.start();
    const state = async () => (await (await fetch(`${proxy.base}${PATH.dataflow(reg.id)}`)).json()).state;
    await waitUntil(`dataflow ${reg.id} live`, async () => (await state()) === "live", { timeoutMs: 10_000, proc: proxy.proc });

    const player = await WhepPlayer.open(`${proxy.base}${PATH.whep(reg.id)}`);
    cleanups.push(() => player.abort());
    expect(await waitFor(() => player.stats.frames >= 60, 10_000)).toBe(true);
    expect(player.stats.gaps).toBe(0);
    expect(player.stats.framesBeforeKeyframe).toBe(0);
    const listed = await (await fetch(`${proxy.base}${PATH.dataflow(reg.id)}`)).json();
    expect(listed.stats).toMatchObject({ viewers: 1, width: 320, height: 240 });
    expect(await player.close()).toBe(200);
    const metrics = await (await fetch(`${proxy.base}/metrics`)).text();
    expect(metrics).toContain('vsb_whep_viewers_ended_total{reason="delete"} 1');
  }, 60_000);
});
