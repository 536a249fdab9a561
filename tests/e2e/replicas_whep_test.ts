// Viewers from any replica (#13 item 3): two real `bun proxy/main.ts` on one real PostgreSQL and
// one real RabbitMQ. A werift WHIP publisher (agent/push WhipPublisher, gst x264 test pattern)
// pushes to replica B; a werift WHEP player on replica A, which has no session of that dataflow,
// gets its frames from RabbitMQ: they start at a keyframe, have no RTP gap and decode with
// avdec_h264 to as many pictures as frames were assembled. The viewer on A is demand: B's `send`
// turns true through the shared store and false again when it leaves; A's frame queue (exclusive,
// x-max-length) exists while it watches and is gone once it left. A viewer on B plays locally
// (B follows no queue); the dashboard on A previews it in Chromium on the same queue. And a
// viewer on A, with send on already, asks the publisher on B for a keyframe through its lease
// (webrtcbin, 20 s GOP): it starts at once. Prints the times to first frame.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { PATH } from "../../shared/mod.ts";
import { FrameAssembler } from "../../proxy/media/frame_assembler.ts";
import type { Page } from "playwright-core";
import { hasChromium, launchChromium } from "../support/chromium.ts";
import { hasElements } from "../support/gst.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { spawnTracked } from "../support/procs.ts";
import { getRabbit, hasRabbit, type Rabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitUntil } from "../support/wait.ts";
import { decodedPictures, metric, register, startSender } from "./media_harness.ts";
import { type PgProxy, pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";
import { WhepPlayer } from "./whep_player.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const gst = hasElements(...GST_ELEMENTS, "avdec_h264");
const ready = hasPostgres() && hasRabbit() && gst;
if (!ready) console.error(`replicas_whep_test skipped: ${hasPostgres() ? "" : "no PostgreSQL "}${hasRabbit() ? "" : "no RabbitMQ "}${gst ? "" : "no GStreamer x264enc/avdec_h264"}`);

const json = async (res: Response | Promise<Response>): Promise<Record<string, unknown>> => await (await res).json() as Record<string, unknown>;

async function metricsOf(proxy: PgProxy, name: string, labels = ""): Promise<number | undefined> {
  return metric(await (await fetch(`${proxy.base}/metrics`)).text(), name, labels);
}

/** The broker's queues of dataflow `id`'s remote viewers: name and arguments, from rabbitmqctl. */
async function viewerQueues(rabbit: Rabbit, id: number): Promise<string[]> {
  const out = await rabbit.ctl(["list_queues", "-q", "--no-table-headers", "name", "arguments"]);
  return out.split("\n").filter((line) => line.startsWith(`vsb-proxy.whep.${id}.`));
}

/** The player's RTP depacketized (the proxy's own assembler) into Annex-B access units. */
function depacketized(player: WhepPlayer): Uint8Array[] {
  const assembler = new FrameAssembler();
  const units: Uint8Array[] = [];
  let t = 0;
  for (const packet of player.recorded ?? []) for (const unit of assembler.push(packet, t++).frames) units.push(unit.data);
  return units;
}

const PYTHON = "/usr/bin/python3";
const WEBRTCBIN_CLIENT = new URL("./whip_webrtcbin_client.py", import.meta.url).pathname;
const webrtcbin = spawnSync("gst-inspect-1.0", ["nicesrc"], { stdio: "ignore" }).status === 0 &&
  spawnSync(PYTHON, ["-c", "import gi; gi.require_version('GstWebRTC', '1.0'); gi.require_version('GstSdp', '1.0')"]).status === 0;
if (ready && !webrtcbin) console.error("replicas_whep_test: the keyframe case is skipped: no python3-gi GstWebRTC or libnice plugin");

/** Two proxies on one fresh database of one PostgreSQL, WebRTC on loopback; and a SQL client on it. */
async function twoReplicas(name: string) {
  const pg = await getPostgres();
  const rabbit = await getRabbit();
  pg.createDatabase(name);
  const db = pgUrlOf(pg, name);
  const extra = ["--ice-address", "127.0.0.1"];
  const [a, b] = await Promise.all([startPgProxy(pg, db, rabbit.amqpUrl, { extra }), startPgProxy(pg, db, rabbit.amqpUrl, { extra })]);
  cleanups.push(() => a.stop(), () => b.stop());
  const sql = postgres(db, { password: pg.password, max: 1, onnotice: () => undefined });
  cleanups.push(() => sql.end({ timeout: 1 }));
  const liveInStore = (id: number) => waitUntil("live in the shared store", async () =>
    (await sql`SELECT state FROM dataflows WHERE id = ${id}`)[0]?.state === "live" || undefined, { timeoutMs: 15_000, intervalMs: 50 });
  return { a, b, rabbit, liveInStore };
}

/** Runs in the page: the dashboard preview's inbound video stats, from the browser's own getStats(). */
async function previewStats() {
  const pc = (window as unknown as { vsb: { previewing: { pc: RTCPeerConnection } | null } }).vsb.previewing?.pc;
  if (!pc) return undefined;
  let out: { framesDecoded: number; frameWidth: number; frameHeight: number } | undefined;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") out = { framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0 };
  });
  return out;
}

/** Clicks "preview" of dataflow `id` on the dashboard in `page`; resolves with Chromium's stats once it decoded 30 frames. */
async function previewDecodes(page: Page, id: number) {
  await page.locator(`tr[data-id="${id}"] button.preview`).click({ timeout: 10_000 });
  return await waitUntil("30 frames decoded in the preview", async () => {
    const stats = await page.evaluate(previewStats);
    return (stats && stats.framesDecoded >= 30 && stats.frameWidth > 0 && stats) || undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
}

describe.skipIf(!ready)("WHEP viewers on any replica", () => {
  test("a viewer on A of a stream pushed to B plays from RabbitMQ from a keyframe, is demand on B, and its queue goes when it leaves", async () => {
    const { a, b, rabbit, liveInStore } = await twoReplicas(`rep_whep_${process.pid}_a`);
    const dir = tempDir("vsb-rep-whep-");
    cleanups.push(() => dir.remove());

    const reg = await register(b.base); // its whipUrl names B
    expect(reg.ingest.whipUrl.startsWith(b.base)).toBe(true);
    const sender = await startSender(reg);
    cleanups.push(() => sender.stop());
    // B flushes its media state to the shared store; A reads it there (A has no session of it).
    await liveInStore(reg.id);
    expect((await json(b.call("GET", PATH.dataflow(reg.id)))).send).toBe(false); // nobody wants it yet

    const remote = await WhepPlayer.open(`${a.base}${PATH.whep(reg.id)}`, undefined, { record: true });
    cleanups.push(() => remote.abort());
    // The viewer's lease on A, through PostgreSQL, turns B's send on (B tells its agent).
    await waitUntil("send true on B", async () => (await json(b.call("GET", PATH.dataflow(reg.id)))).send === true || undefined, { timeoutMs: 3000, intervalMs: 20 });
    await waitUntil("90 frames on A's viewer", () => remote.stats.frames >= 90 || undefined, { timeoutMs: 20_000, proc: a.proc });
    expect(remote.stats.framesBeforeKeyframe).toBe(0);
    expect(remote.stats.keyframes).toBeGreaterThanOrEqual(1);
    expect(remote.stats.gaps).toBe(0);
    expect(await metricsOf(a, "vsb_whep_bus_sources")).toBe(1);
    expect(await metricsOf(a, "vsb_whep_bus_frames_total")).toBeGreaterThanOrEqual(90);
    expect(await metricsOf(b, "vsb_whep_bus_sources")).toBe(0);
    const queues = await viewerQueues(rabbit, reg.id);
    expect(queues).toHaveLength(1);
    expect(queues[0]).toContain("x-max-length");

    // A viewer on B, the ingesting replica, plays the local stream: no queue of its own.
    const local = await WhepPlayer.open(`${b.base}${PATH.whep(reg.id)}`);
    cleanups.push(() => local.abort());
    await waitUntil("frames on B's viewer", () => local.stats.frames >= 30 || undefined, { timeoutMs: 20_000, proc: b.proc });
    expect(local.stats.framesBeforeKeyframe).toBe(0);
    expect(await metricsOf(b, "vsb_whep_bus_sources")).toBe(0);
    expect(await viewerQueues(rabbit, reg.id)).toHaveLength(1);
    expect(await local.close()).toBe(200);

    // The dashboard on A previews it the same way (Chromium's own decoder), on the same queue.
    if (hasChromium()) {
      const chromium = await launchChromium();
      cleanups.push(() => chromium.close());
      const page = await chromium.browser.newPage({ viewport: { width: 1600, height: 600 } });
      await page.goto(`${a.base}/`);
      const stats = await previewDecodes(page, reg.id);
      expect([stats.frameWidth, stats.frameHeight]).toEqual([320, 240]);
      expect(await metricsOf(a, "vsb_whep_viewers")).toBe(2);
      expect(await viewerQueues(rabbit, reg.id)).toHaveLength(1); // one queue for both of A's viewers
      await page.click("#stop");
      await waitUntil("the preview ended", async () => (await metricsOf(a, "vsb_whep_viewers")) === 1 || undefined, { timeoutMs: 5000, intervalMs: 100 });
      await chromium.close();
    } else console.error("replicas_whep_test: the dashboard preview on A is skipped: no /usr/bin/chromium");

    // What A's viewer got decodes: as many pictures as access units were reassembled.
    const units = depacketized(remote);
    expect(units.length).toBeGreaterThanOrEqual(90);
    const file = join(dir.path, "remote.h264");
    writeFileSync(file, Buffer.concat(units));
    expect(await decodedPictures(file)).toBe(units.length);

    expect(await remote.close()).toBe(200);
    await waitUntil("A's queue deleted", async () => (await viewerQueues(rabbit, reg.id)).length === 0 || undefined, { timeoutMs: 5000, intervalMs: 100 });
    expect(await metricsOf(a, "vsb_whep_bus_sources")).toBe(0);
    await waitUntil("send false on B", async () => (await json(b.call("GET", PATH.dataflow(reg.id)))).send === false || undefined, { timeoutMs: 5000, intervalMs: 50 });
    console.error(`replicas whep: time to first frame on A (from RabbitMQ) ${remote.stats.firstFrameMs} ms (answer ${remote.stats.answeredMs} ms), ` +
      `on B (local, cached GOP) ${local.stats.firstFrameMs} ms; A's viewer got ${remote.stats.frames} frames, the ${units.length} reassembled first decoded 1:1`);
  }, 120_000);

  test.skipIf(!webrtcbin)("a viewer on A asks B's publisher for a keyframe through its lease, even with send on already: it starts long before the next GOP", async () => {
    const { a, b, liveInStore } = await twoReplicas(`rep_whep_${process.pid}_b`);
    const reg = await register(b.base);
    // A consumer holds a lease already: send is on, and stays on when A's viewer comes.
    expect((await b.call("POST", "/demands", { dataflowId: reg.id, ttlSeconds: 600 })).status).toBe(201);
    // webrtcbin's x264enc: a keyframe every 20 s, else only when a PLI asks (force-key-unit).
    const client = spawnTracked(PYTHON, [WEBRTCBIN_CLIENT, reg.ingest.whipUrl, reg.ingest.token, "90"], { name: "webrtcbin-whip", env: { WHIP_KEYINT: "600" } });
    cleanups.push(() => client.stop());
    await liveInStore(reg.id);
    await waitUntil("B's publisher past its first keyframe", async () => (await metricsOf(b, "vsb_frames_published_total") ?? 0) >= 30 || undefined, { timeoutMs: 10_000, intervalMs: 50 });
    const player = await WhepPlayer.open(`${a.base}${PATH.whep(reg.id)}`);
    cleanups.push(() => player.abort());
    await waitUntil("frames on A's viewer", () => player.stats.frames >= 30 || undefined, { timeoutMs: 30_000, proc: a.proc });
    expect(player.stats.framesBeforeKeyframe).toBe(0);
    // Without the ask it would wait for the GOP that starts ~19 s from now.
    expect(player.stats.firstFrameMs!).toBeLessThan(8000);
    expect(await player.close()).toBe(200);
    console.error(`replicas whep: 20 s GOP, send already on: time to first frame on A ${player.stats.firstFrameMs} ms (answer ${player.stats.answeredMs} ms)`);
  }, 120_000);
});
