// Two WHEP viewers (werift players) and one AMQP consumer on one live dataflow at once, on
// real parts (RabbitMQ, gst → WhipPublisher → proxy). One viewer, a process of its own, is
// killed with SIGKILL (no DELETE, nothing said on the wire): the proxy notices and removes it,
// while the other viewer and the consumer keep receiving with no gap (consumer: `seq`
// contiguous; viewer: frames keep coming, no RTP sequence gap).
import { afterAll, describe, expect } from "bun:test";
import amqp from "amqplib";
import { FrameHeadersSchema, PATH, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { GST_ELEMENTS, waitFor } from "./whip_harness.ts";
import { type MediaProxy, pushLiveFlow, startMediaProxy } from "./whep_harness.ts";
import { type PlayerStats, WhepPlayer } from "./whep_player.ts";

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
  it("two viewers and one AMQP consumer; one viewer is killed -9; the others go on without a gap", async () => {
    const media = await startMediaProxy({ whep: { silenceTimeoutMs: 3000, checkIntervalMs: 250 } });
    cleanups.push(() => media.stop());
    const flow = await pushLiveFlow(media);
    cleanups.push(() => flow.stop());
    const id = flow.reg.id;
    const seqs = await consume(media, id);

    const a = spawnTracked(process.execPath, [`${import.meta.dir}/whep_player_process.ts`, `${media.base}${PATH.whep(id)}`], { name: "whep-player" });
    const statsOfA = (): PlayerStats => JSON.parse(a.output("stdout").trim().split("\n").at(-1) || "{}");
    const b = await WhepPlayer.open(`${media.base}${PATH.whep(id)}`);
    cleanups.push(() => b.abort());
    expect(await waitFor(() => statsOfA().frames >= 30 && b.stats.frames >= 30, 15_000)).toBe(true);
    expect(media.whep.playback.viewerCount(id)).toBe(2);
    // Joiners start from the cached GOP at once instead of waiting for the next keyframe
    // (gst's encoder cannot hear a PLI; its GOP here is 1 s). Measured: ~135 ms, ~815 ms without the cache.
    expect(statsOfA().firstFrameMs!).toBeLessThan(1000); // includes its own start-up and ICE
    // A's gaps are not checked: a cold process can lose part of the GOP burst it joins with
    // (seen: 13 packets on a loaded machine), which its NACKs then repair; B is the witness.
    expect(b.stats.firstFrameMs!).toBeLessThan(500);
    // Watching holds a demand lease: the dataflow is wanted (send) while viewers are connected.
    expect(media.whep.playback.demand.leaseOf(id)).toBeDefined();
    expect((await (await media.api(PATH.dataflow(id))).json()).send).toBe(true);

    const viewerA = statsOfA();
    a.child.kill("SIGKILL");
    expect((await a.exited).signal).toBe("SIGKILL");
    const framesAtAbort = b.stats.frames;
    const seqsAtAbort = seqs.length;
    expect(await waitFor(() => media.whep.playback.viewerCount(id) === 1, 8000)).toBe(true);
    const ended = media.whep.playback.ended;
    expect(ended["peer-closed"]).toBe(0); // nothing was said: the proxy found out by itself
    expect(ended["ice-failed"] + ended.timeout).toBe(1);
    await Bun.sleep(1500);

    console.log(JSON.stringify({ viewerA, viewerB: b.stats, consumed: seqs.length, ended }));
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
