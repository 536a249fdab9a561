// Interop with a browser as the WHIP client: headless Chromium's fake camera pushes over
// WHIP (its own offer: VP8/VP9/AV1/H.264 variants, RTX, BUNDLE, audio m-line rejected) to the
// routes; the sink gets H.264 packetization-mode 1 without gaps. Loopback only.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { chromium } from "playwright-core";
import { configureLog } from "../../proxy/log.ts";
import { hasChromium, skipUnless } from "../support/gst.ts";
import { startWhipServer, waitFor, type WhipTestServer } from "./whip_harness.ts";

const it = skipUnless(hasChromium(), "Chromium is not installed at /usr/bin/chromium");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
];

let server: WhipTestServer;
beforeAll(() => {
  configureLog({ level: "silent" });
  server = startWhipServer(new Map([[31, "tok-31"]]));
});
afterAll(async () => {
  await server.stop();
});

/** Runs in the page: a minimal WHIP client (RFC 9725), non-trickle. */
async function pushFromPage(args: { url: string; token: string; seconds: number }) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 30 }, audio: true });
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const res = await fetch(args.url, {
    method: "POST",
    headers: { "content-type": "application/sdp", authorization: `Bearer ${args.token}` },
    body: pc.localDescription!.sdp,
  });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer };
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  await new Promise((r) => setTimeout(r, args.seconds * 1000));
  const stats = await pc.getStats();
  let codec = "";
  let packetsSent = 0;
  stats.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") packetsSent = s.packetsSent;
    if (s.type === "codec" && s.mimeType?.startsWith("video/")) codec += `${s.mimeType} ${s.sdpFmtpLine ?? ""};`;
  });
  const state = pc.connectionState;
  const del = await fetch(new URL(res.headers.get("location")!, args.url), { method: "DELETE", headers: { authorization: `Bearer ${args.token}` } });
  pc.close();
  return { status: res.status, state, codec, packetsSent, deleteStatus: del.status };
}

describe("WHIP interop with Chromium", () => {
  it("Chromium's fake camera pushes H.264 pm1 over WHIP; the sink gets it without gaps", async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.base}/whip/31`); // a JSON 404 page: same origin as the WHIP endpoint
      const result = await page.evaluate(pushFromPage, { url: server.whipUrl(31), token: "tok-31", seconds: 4 });
      console.log(JSON.stringify({ chromium: result }));
      expect(result).toMatchObject({ status: 201, state: "connected", deleteStatus: 200 });
      const rec = server.sessions.find((s) => s.info.dataflowId === 31)!;
      expect(await waitFor(() => rec.closedWith === "delete", 2000)).toBe(true);
      expect(rec.packets).toBeGreaterThan(50);
      expect([...rec.payloadTypes]).toEqual([rec.info.payloadType]);
      let gaps = 0;
      for (let i = 1; i < rec.seqs.length; i++) if (((rec.seqs[i]! - rec.seqs[i - 1]!) & 0xffff) !== 1) gaps++;
      expect(gaps).toBe(0);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
