// The whole MEC media path on real parts: gst → WhipPublisher → vsb-proxy (startProxy with
// the default WHIP sinks) → FrameAssembler → RabbitMQ `video` exchange → an AMQP consumer.
// One message per frame, keyframe first, seq without gaps, every header; the bodies
// concatenated decode with avdec_h264 to exactly as many pictures as messages; the RTP/UDP
// forward, played with udpsrc ! rtph264depay ! avdec_h264, decodes pictures too.
import { afterAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { whipRoutesFor } from "../../proxy/ingest/whip_ingest.ts";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { configureLog } from "../../proxy/log.ts";
import { startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";
import { FrameHeadersSchema, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { freeUdpPortRange } from "../support/ports.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { GST_ELEMENTS, spawnGstRtp, waitFor } from "./whip_harness.ts";

const it = skipUnless(hasRabbit() && hasElements(...GST_ELEMENTS, "avdec_h264", "fakesink"), "needs RabbitMQ and GStreamer (x264enc, avdec_h264)");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

/** Decodes an Annex-B file with avdec_h264 and counts the pictures. */
async function decodedPictures(file: string): Promise<number> {
  const dec = spawnTracked("gst-launch-1.0", [
    "-v", "filesrc", `location=${file}`, "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "silent=false", "sync=false",
  ], { name: "avdec" });
  await dec.exited;
  return dec.output("stdout").split("\n").filter((l) => l.includes("last-message = chain")).length;
}

describe("WHIP → frames on RabbitMQ", () => {
  it("one message per frame, keyframe first, no seq gap, all headers, decodes to as many pictures", async () => {
    configureLog({ level: "silent" });
    const rabbit = await getRabbit();
    const dir = mkdtempSync(join(tmpdir(), "vsb-frames-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const udpBase = await freeUdpPortRange(4);
    const argv = [
      "--listen", "127.0.0.1:0", "--db", join(dir, "p.db"), "--amqp-url", rabbit.amqpUrl, "--ice-address", "127.0.0.1",
      "--udp-forward-host", "127.0.0.1", "--udp-ports", `${udpBase}-${udpBase + 3}`,
    ];
    const config = loadConfig(argv, {}, readText);
    if (config.kind !== "run") throw new Error("expected a config");
    const proxy = await startProxy(config.config, { routes: whipRoutesFor() });
    cleanups.push(() => proxy.stop());
    const base = `http://127.0.0.1:${proxy.server.port}`;
    expect(await waitFor(() => proxy.bus.connected, 10_000)).toBe(true);
    const reg = await (await fetch(`${base}/dataflows`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(agentBody()) })).json();

    const model = await amqp.connect(rabbit.amqpUrl);
    cleanups.push(() => model.close());
    const channel = await model.createChannel();
    const q = await channel.assertQueue("", { exclusive: true });
    await channel.bindQueue(q.queue, VIDEO_EXCHANGE, videoRoutingKey("h264", reg.id));
    const messages: { body: Buffer; headers: Record<string, unknown> }[] = [];
    await channel.consume(q.queue, (m) => m && messages.push({ body: m.content, headers: m.properties.headers ?? {} }), { noAck: true });

    // The legacy UDP forward, played the way a 5GMETA pipeline would.
    const forward = (await (await fetch(`${base}/dataflows/${reg.id}`)).json()).udpForward as { host: string; port: number };
    expect(forward.port).toBeGreaterThanOrEqual(udpBase);
    const player = spawnTracked("gst-launch-1.0", [
      "-v", "udpsrc", `address=${forward.host}`, `port=${forward.port}`,
      "caps=application/x-rtp,media=video,encoding-name=H264,clock-rate=90000", "!",
      "rtph264depay", "!", "avdec_h264", "!", "fakesink", "silent=false", "sync=false",
    ], { name: "udp-player" });
    cleanups.push(() => player.stop());
    const pub = new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
    const gst = spawnGstRtp();
    cleanups.push(() => gst.stop());
    void readRtpStream(gst.child.stdout!, (p) => pub.sendRtp(p));
    await pub.start();
    expect(await waitFor(() => messages.length >= 150, 10_000)).toBe(true);
    await gst.stop();
    await Bun.sleep(500);
    await pub.close();

    expect(messages[0]!.headers.keyframe).toBe(true);
    messages.forEach((m, i) => {
      const h = FrameHeadersSchema.parse(m.headers);
      expect(h.seq).toBe(i);
      expect(h.sourceId).toBe(reg.id);
      expect(h.body_size).toBe(m.body.length);
      expect([h.width, h.height]).toEqual([320, 240]);
    });
    const played = player.output("stdout").split("\n").filter((l) => l.includes("last-message = chain")).length;
    expect(played).toBeGreaterThan(100);
    const file = join(dir, "all.h264");
    writeFileSync(file, Buffer.concat(messages.map((m) => m.body)));
    expect(await decodedPictures(file)).toBe(messages.length);
  }, 60_000);
});
