// Interop with a browser as the WHIP client: headless Chromium's fake camera pushes over
// WHIP (its own offer: VP8/VP9/AV1/H.264 variants, RTX, transport-cc, BUNDLE, audio m-line
// rejected) to the routes; the sink gets H.264 packetization-mode 1 without gaps. Loopback only.
// With transport-cc answered Chromium probes the uplink, partly by resending media packets over
// RTX (werift unwraps them): the sink sees those sequence numbers twice, which is no gap.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { configureLog } from "../../proxy/log.ts";
import { srtpFastCounters } from "../../proxy/webrtc/werift_fast_path.ts";
import { FAKE_CAMERA_FLAGS, launchChromium } from "../support/chromium.ts";
import { hasChromium, skipUnless } from "../support/gst.ts";
import { pushFromPage } from "./browser_whip.ts";
import { startWhipServer, waitFor, type WhipTestServer } from "./whip_harness.ts";

const it = skipUnless(hasChromium(), "Chromium is not installed at /usr/bin/chromium");

let server: WhipTestServer;
beforeAll(() => {
  configureLog({ level: "silent" });
  server = startWhipServer(new Map([[31, "tok-31"]]));
});
afterAll(async () => {
  await server.stop();
});

describe("WHIP interop with Chromium", () => {
  it("Chromium's fake camera pushes H.264 pm1 over WHIP; the sink gets it without gaps", async () => {
    const chrome = await launchChromium(FAKE_CAMERA_FLAGS);
    const browser = chrome.browser;
    try {
      const srtpBefore = { ...srtpFastCounters };
      const page = await browser.newPage();
      await page.goto(`${server.base}/whip/31`); // a JSON 404 page: same origin as the WHIP endpoint
      const result = await page.evaluate(pushFromPage, { url: server.whipUrl(31), token: "tok-31", seconds: 4, audio: true });
      console.log(JSON.stringify({ chromium: result }));
      expect(result).toMatchObject({ status: 201, state: "connected", deleteStatus: 200 });
      const rec = server.sessions.find((s) => s.info.dataflowId === 31)!;
      expect(await waitFor(() => rec.closedWith === "delete", 2000)).toBe(true);
      expect(rec.packets).toBeGreaterThan(50);
      expect([...rec.payloadTypes]).toEqual([rec.info.payloadType]);
      // Every sequence number from the first to the last arrived (16-bit wrap included).
      const first = rec.seqs[0]!;
      const seen = new Set(rec.seqs.map((s) => (s - first) & 0xffff));
      const span = Math.max(...seen) + 1;
      const gaps = span - seen.size;
      console.log(JSON.stringify({ seqs: rec.seqs.length, span, duplicates: rec.seqs.length - seen.size }));
      expect(gaps).toBe(0);
      // Chromium's SRTP (AES-CM or GCM, whichever it picked) went through the lean decrypt.
      const srtp = Object.fromEntries(Object.entries(srtpFastCounters).map(([k, v]) => [k, v - srtpBefore[k as keyof typeof srtpBefore]]));
      console.log(JSON.stringify({ srtp }));
      expect(srtp.fast).toBeGreaterThan(rec.packets * 0.9);
      expect(srtp.otherProfile).toBe(0);
    } finally {
      await chrome.close();
    }
  }, 60_000);
});
