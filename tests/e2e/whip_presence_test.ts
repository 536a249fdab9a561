// Media is presence (issue 11): publishers that speak only WHIP — headless Chromium's fake camera
// and GStreamer webrtcbin — push for 60 s to registered dataflows and never send a keep-alive
// PUT. On the real proxy process and the real RabbitMQ: both sessions stay up the whole minute
// (5 s keep-alive period, so expiry would have cut them at 15 s), their frames reach RabbitMQ
// without a seq gap, and their DELETE answers 200. A third push (Chromium) stops after 20 s
// without a DELETE: its dataflow expires 15 s after its last packet, not before.
import { afterAll, describe, expect } from "bun:test";
import { spawnSync } from "node:child_process";
import { FAKE_CAMERA_FLAGS, hasChromium, launchChromium } from "../support/chromium.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { pushFromPage } from "./browser_whip.ts";
import { consumeFrames, type Got, register, startProxyProcess } from "./media_harness.ts";

const PYTHON = "/usr/bin/python3";
const CLIENT = new URL("./whip_webrtcbin_client.py", import.meta.url).pathname;
const PUSH_SECONDS = 60;
const QUIT_SECONDS = 20;
const KEEPALIVE_SECONDS = 5;
const EXPIRY_MS = 3 * KEEPALIVE_SECONDS * 1000;

function haveWebrtcbin(): boolean {
  if (!hasElements("webrtcbin", "x264enc", "rtph264pay", "videotestsrc")) return false;
  if (spawnSync("gst-inspect-1.0", ["nicesrc"], { stdio: "ignore" }).status !== 0) return false;
  return spawnSync(PYTHON, ["-c", "import gi; gi.require_version('GstWebRTC', '1.0'); gi.require_version('GstSdp', '1.0')"]).status === 0;
}

const it = skipUnless(
  hasRabbit() && hasChromium() && haveWebrtcbin(),
  "needs RabbitMQ, Chromium at /usr/bin/chromium, and webrtcbin with gstreamer1.0-nice and /usr/bin/python3 gi",
);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Seq numbers that are not the previous one plus one, and the longest pause between frames (ms). */
function continuity(frames: Got[]) {
  let gaps = 0;
  let longestPauseMs = 0;
  for (let i = 1; i < frames.length; i++) {
    if (Number(frames[i]!.headers.seq) !== Number(frames[i - 1]!.headers.seq) + 1) gaps++;
    longestPauseMs = Math.max(longestPauseMs, Number(frames[i]!.headers.receiveTime) - Number(frames[i - 1]!.headers.receiveTime));
  }
  const spanMs = frames.length ? Number(frames.at(-1)!.headers.receiveTime) - Number(frames[0]!.headers.receiveTime) : 0;
  return { frames: frames.length, gaps, longestPauseMs, spanMs };
}

/** The proxy's `whip session ended` log lines for dataflow `id`, with their reasons. */
function sessionEnds(stderr: string, id: number): string[] {
  return stderr.split("\n").filter((l) => l.includes('"whip session ended"')).map((l) => JSON.parse(l))
    .filter((e) => e.dataflowId === id).map((e) => e.reason as string);
}

describe("presence from media", () => {
  it("Chromium and webrtcbin push 60 s with no keep-alive: live throughout, no seq gap, DELETE 200; a push stopped without DELETE expires 15 s after its last packet", async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyProcess(rabbit.amqpUrl, ["--keepalive-seconds", String(KEEPALIVE_SECONDS)]);
    cleanups.push(() => proxy.stop());
    const chromeFlow = await register(proxy.base);
    const gstFlow = await register(proxy.base);
    const quitFlow = await register(proxy.base);
    const chromeFrames = await consumeFrames(rabbit.amqpUrl, chromeFlow.id);
    const gstFrames = await consumeFrames(rabbit.amqpUrl, gstFlow.id);
    cleanups.push(chromeFrames.close, gstFrames.close);

    const chrome = await launchChromium(FAKE_CAMERA_FLAGS);
    cleanups.push(() => chrome.close());
    const page = async () => {
      const p = await chrome.browser.newPage();
      await p.goto(`${proxy.base}/health`); // same origin as the WHIP endpoint
      return p;
    };
    const [chromePage, quitPage] = [await page(), await page()];
    const gst = spawnTracked(PYTHON, [CLIENT, gstFlow.ingest.whipUrl, gstFlow.ingest.token, String(PUSH_SECONDS)], { name: "webrtcbin-whip" });
    const chromePush = chromePage.evaluate(pushFromPage, { url: chromeFlow.ingest.whipUrl, token: chromeFlow.ingest.token, seconds: PUSH_SECONDS });
    const quitPush = await quitPage.evaluate(pushFromPage, {
      url: quitFlow.ingest.whipUrl, token: quitFlow.ingest.token, seconds: QUIT_SECONDS, noDelete: true,
    });
    expect(quitPush).toMatchObject({ status: 201, state: "connected", deleteStatus: null });

    // The quitter: media kept it present past its registration's 15 s; it expires 15 s after its last packet.
    const get = async (id: number) => await (await fetch(`${proxy.base}/dataflows/${id}`)).json();
    const ended = await waitUntil("the dataflow that stopped without DELETE to expire", async () => {
      const r = await get(quitFlow.id);
      return r.active === false ? r : undefined;
    }, { timeoutMs: EXPIRY_MS + 20_000, intervalMs: 200 });
    const lastMedia = Date.parse(ended.lastMediaAt);
    console.log(JSON.stringify({ quitter: { registeredAt: ended.registeredAt, lastMediaAt: ended.lastMediaAt, endedAt: ended.endedAt } }));
    expect(ended.endReason).toBe("expired");
    expect(lastMedia - Date.parse(ended.registeredAt)).toBeGreaterThan(QUIT_SECONDS * 1000 - 3000);
    const expiredAfter = Date.parse(ended.endedAt) - lastMedia;
    expect(expiredAfter).toBeGreaterThan(EXPIRY_MS);
    // The 1 s sweep, plus the 500 ms media report, plus a busy machine's timer lateness.
    expect(expiredAfter).toBeLessThan(EXPIRY_MS + 5_000);

    const chromeResult = await chromePush;
    const gstStatus = await gst.exited;
    const gstResult = JSON.parse(gst.output("stdout").trim().split("\n").at(-1) || "{}");
    console.log(JSON.stringify({ chromium: chromeResult, webrtcbin: gstResult }));
    expect(chromeResult).toMatchObject({ status: 201, state: "connected", deleteStatus: 200 });
    expect(gstStatus.code).toBe(0);
    expect(gstResult).toMatchObject({ status: 201, state: "connected", deleteStatus: 200, error: null });

    const stderr = proxy.proc.output("stderr");
    for (const flow of [chromeFlow, gstFlow]) {
      // One session, ended by the client's DELETE: never by expiry or a media timeout.
      expect(sessionEnds(stderr, flow.id)).toEqual(["delete"]);
      const record = await get(flow.id);
      expect(record).toMatchObject({ active: true, udpForward: null });
      expect(record.lastSeenAt).toBe(record.registeredAt); // no keep-alive was ever sent
      expect(Date.parse(record.lastMediaAt) - Date.parse(record.registeredAt)).toBeGreaterThan((PUSH_SECONDS - 5) * 1000);
    }
    for (const [name, frames] of [["chromium", chromeFrames.got], ["webrtcbin", gstFrames.got]] as const) {
      const c = continuity(frames);
      console.log(JSON.stringify({ [name]: c }));
      expect(c.gaps).toBe(0);
      expect(c.spanMs).toBeGreaterThan((PUSH_SECONDS - 5) * 1000);
      expect(c.longestPauseMs).toBeLessThan(2_000);
    }
  }, 180_000);
});
