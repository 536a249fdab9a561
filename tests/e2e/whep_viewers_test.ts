// Two WHEP viewers (werift players) and one AMQP consumer on one live dataflow at once, on
// real parts (RabbitMQ, gst → WhipPublisher → proxy). One viewer vanishes without a DELETE:
// the proxy notices and removes it, while the other viewer and the consumer keep receiving
// with no gap (consumer: `seq` contiguous; viewer: frames keep coming, no RTP sequence gap).
import { afterAll, describe, expect } from "bun:test";
import amqp from "amqplib";
import { FrameHeadersSchema, PATH, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { GST_ELEMENTS, waitFor } from "./whip_harness.ts";
import { type MediaProxy, pushLiveFlow, startMediaProxy } from "./whep_harness.ts";
import { WhepPlayer } from "./whep_player.ts";

const it = skipUnless(hasRabbit() && hasElements(...GST_ELEMENTS), "needs RabbitMQ and GStreamer (x264enc)");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

async function consume(media: MediaProxy, id: number) {
  const conn = await amqp.connect(media.amqpUrl);
  cleanups.push(() => conn.close());
  const channel = await conn.createChannel();
  const q = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(q.queue, VIDEO_EXCHANGE, videoRoutingKey("h264", id));
  const seqs: number[] = [];
  await channel.consume(q.queue, (m) => m && seqs.push(FrameHeadersSchema.parse(m.properties.headers).seq), { noAck: true });
  return seqs;
}

describe("WHEP viewers beside the bus", () => {
  it("two viewers and one AMQP consumer; one viewer vanishes; the others go on without a gap", async () => {
    const media = await startMediaProxy({ whep: { silenceTimeoutMs: 3000, checkIntervalMs: 250 } });
    cleanups.push(() => media.stop());
    const flow = await pushLiveFlow(media);
    cleanups.push(() => flow.stop());
    const id = flow.reg.id;
    const seqs = await consume(media, id);

    const a = await WhepPlayer.open(`${media.base}${PATH.whep(id)}`);
    cleanups.push(() => a.abort());
    const b = await WhepPlayer.open(`${media.base}${PATH.whep(id)}`);
    cleanups.push(() => b.abort());
    expect(await waitFor(() => a.stats.frames >= 30 && b.stats.frames >= 30, 10_000)).toBe(true);
    expect(media.whep.playback.viewerCount(id)).toBe(2);
    // Joiners start from the cached GOP at once instead of waiting for the next keyframe
    // (gst's encoder cannot hear a PLI; its GOP here is 1 s). Measured: ~135 ms, ~815 ms without the cache.
    expect(a.stats.firstFrameMs!).toBeLessThan(500);
    expect(b.stats.firstFrameMs!).toBeLessThan(500);
    // Watching holds a demand lease: the dataflow is wanted (send) while viewers are connected.
    expect(media.whep.playback.demand.leaseOf(id)).toBeDefined();
    expect((await (await media.api(PATH.dataflow(id))).json()).send).toBe(true);

    await a.abort(); // no DELETE
    const framesAtAbort = b.stats.frames;
    const seqsAtAbort = seqs.length;
    expect(await waitFor(() => media.whep.playback.viewerCount(id) === 1, 8000)).toBe(true);
    const ended = media.whep.playback.ended;
    expect(ended["ice-failed"] + ended["peer-closed"] + ended.timeout).toBe(1);
    await Bun.sleep(1500);

    console.log(JSON.stringify({ viewerA: a.stats, viewerB: b.stats, consumed: seqs.length, ended }));
    expect(b.stats.frames).toBeGreaterThan(framesAtAbort + 30);
    expect(b.stats.gaps).toBe(0);
    expect(b.stats.framesBeforeKeyframe).toBe(0);
    expect(b.stats.keyframes).toBeGreaterThan(0);
    expect(seqs.length).toBeGreaterThan(seqsAtAbort + 30);
    seqs.forEach((s, i) => i > 0 && expect(s).toBe(seqs[i - 1]! + 1));

    expect(await b.close()).toBe(200);
    expect(await waitFor(() => media.whep.playback.viewerCount(id) === 0, 2000)).toBe(true);
    expect(media.whep.playback.demand.leaseOf(id)).toBeUndefined();
    const metrics = await (await media.api("/metrics")).text();
    expect(metrics).toMatch(/vsb_whep_frames_sent_total [1-9]\d*/);
    expect(metrics).toContain('vsb_whep_viewers_ended_total{reason="delete"} 1');
  }, 60_000);
});
