// --max-access-unit-bytes in the real binary: `bun proxy/main.ts` + RabbitMQ, and a werift
// WHIP sender (agent/push/WhipPublisher) writing raw RTP: a keyframe, then 200 000 packets of
// ~1200 bytes with one timestamp and no marker (240 MB if the proxy kept them), then a
// keyframe at a new timestamp. The proxy's RSS (its own vsb_process_memory_bytes) stays flat,
// the unit is counted in vsb_access_units_oversize_total with one warn line, and the keyframe
// after it is assembled.
import { afterAll, describe, expect } from "bun:test";
import { createLogger } from "../../agent/log.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { skipUnless } from "../support/gst.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { metric, register, startProxyProcess } from "./media_harness.ts";
import { waitFor } from "./whip_harness.ts";

const it = skipUnless(hasRabbit(), "needs RabbitMQ");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const MiB = 1024 * 1024;
const SPS = Buffer.from("6742c00dd90141fb016a0c0c0d4a000003000200000300791e285490", "hex");
const PPS = Buffer.from([0x68, 0xcb, 0x8c, 0xb2]);
const SSRC = 0x5eed;

/** RTP/H.264 bytes: version 2, PT 96. */
function rtp(seq: number, timestamp: number, marker: boolean, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  out[0] = 0x80;
  out[1] = (marker ? 0x80 : 0) | 96;
  view.setUint16(2, seq & 0xffff);
  view.setUint32(4, timestamp >>> 0);
  view.setUint32(8, SSRC);
  out.set(payload, 12);
  return out;
}

const stapA = (...nals: Buffer[]) => Buffer.concat([Buffer.from([0x78]), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
const idr = Buffer.concat([Buffer.from([0x65, 0x88]), Buffer.alloc(800, 7)]);
const slice = Buffer.concat([Buffer.from([0x41, 0x9a]), Buffer.alloc(1198, 0x33)]);

describe("--max-access-unit-bytes in bun proxy/main.ts", () => {
  it("200k same-timestamp packets over WHIP leave the proxy's RSS flat; counted, warned once; the next keyframe comes out", async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyProcess(rabbit.amqpUrl, ["--max-access-unit-bytes", "1048576"]);
    cleanups.push(() => proxy.stop());
    const scrape = async () => await (await fetch(`${proxy.base}/metrics`)).text();
    const rss = async () => metric(await scrape(), "vsb_process_memory_bytes", '{kind="rss"}')!;
    const assembled = async () => metric(await scrape(), "vsb_frames_assembled_total") ?? 0;

    const reg = await register(proxy.base);
    const pub = new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
    cleanups.push(() => pub.close());
    await pub.start();
    expect(await waitFor(() => pub.state === "connected", 10_000)).toBe(true);
    let seq = 0;
    const keyframe = (ts: number) => {
      pub.sendRtp(rtp(seq++, ts, false, stapA(SPS, PPS)));
      pub.sendRtp(rtp(seq++, ts, true, idr));
    };
    keyframe(0);
    const proc = proxy.proc;
    await waitUntil("the first keyframe assembled", async () => (await assembled()) >= 1, { proc });

    const before = await rss();
    let peak = before;
    for (let i = 0; i < 200_000; i++) {
      pub.sendRtp(rtp(seq++, 3000, false, slice));
      // Paced (≈ 100 MB/s at most): loopback UDP drops what a burst overruns, and a loss would
      // break the unit before it reaches the bound instead of testing the bound.
      if (i % 250 === 249) await new Promise((r) => setTimeout(r, 2));
      if (i % 20_000 === 19_999) peak = Math.max(peak, await rss());
    }
    // Everything sent has reached the proxy's assembler once its packet count stops moving
    // (loopback may drop a few; the bound is crossed after ~830 packets).
    let last = -1;
    const received = await waitUntil("the packet count to settle", async () => {
      const n = metric(await scrape(), "vsb_whip_rtp_packets_total") ?? 0;
      const settled = n === last && n >= 100_000;
      last = n;
      return settled && n;
    }, { proc, timeoutMs: 60_000, intervalMs: 500 });
    peak = Math.max(peak, await rss());
    keyframe(6000);
    await waitUntil("the keyframe after the oversize unit assembled", async () => (await assembled()) >= 2, { proc });

    const text = await scrape();
    console.log(`proxy rss before ${(before / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB; packets received ${received}`);
    expect(peak - before).toBeLessThan(64 * MiB);
    expect(metric(text, "vsb_access_units_oversize_total")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "vsb_frames_dropped_total", '{stage="assembler",reason="oversize"}')).toBeGreaterThanOrEqual(1);
    const warns = proxy.proc.output("stderr").split("\n").filter((l) => l.includes("over --max-access-unit-bytes"));
    expect(warns).toHaveLength(1);
    expect(JSON.parse(warns[0]!)).toMatchObject({ level: "warn", dataflowId: reg.id, maxAccessUnitBytes: MiB });
  }, 180_000);
});
