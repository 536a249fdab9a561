// Issue #12's bar for WHEP viewer caps, on the real proxy (real RabbitMQ, a gst test pattern
// pushed live over WHIP): 1000 parallel WHEP POSTs against `--max-whep-viewers 5` open at most
// 5 viewers; the rest get a JSON 503 counted in vsb_whep_rejected_total{reason="total_limit"}.
// The POSTs come from another process, all at once, and the proxy runs full ICE against a local
// STUN server, so the answers overlap. The cap is a reservation taken before werift's await: a
// check before the await alone let all 1000 through (measured: 1000 viewers).
import { afterAll, describe, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { PATH } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { startStunResponder } from "../support/stun_responder.ts";
import { tempDir } from "../support/temp_dir.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";
import { pushLiveFlow, startMediaProxy } from "./whep_harness.ts";
import { recvonlyOffer } from "./whep_player.ts";

const it = skipUnless(hasRabbit() && hasElements(...GST_ELEMENTS), "needs RabbitMQ and GStreamer (x264enc)");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

describe("--max-whep-viewers", () => {
  it("1000 parallel WHEP POSTs on the real proxy open at most the cap (5) of viewers", async () => {
    // Full ICE against a local STUN server (a MEC behind NAT): gathering waits on a UDP round
    // trip, so many answers are under way at once. With ICE-lite werift answers without
    // yielding to the event loop and parallel HTTP requests never overlap.
    const stun = await startStunResponder();
    cleanups.push(() => stun.close());
    const media = await startMediaProxy({ argv: ["--max-whep-viewers", "5", "--ice-servers", `stun:127.0.0.1:${stun.port}`] });
    cleanups.push(() => media.stop());
    const flow = await pushLiveFlow(media);
    cleanups.push(() => flow.stop());
    const id = flow.reg.id;
    const dir = tempDir("vsb-whep-burst-");
    cleanups.push(() => dir.remove());
    writeFileSync(`${dir.path}/offer.sdp`, await recvonlyOffer(cleanups));
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, media.whep.playback.viewerCount() + media.whep.playback.caps.negotiating())), 1);
    // Another process: its 1000 requests reach the proxy's sockets at once, as real players' would.
    const client = spawnTracked(process.execPath, [`${import.meta.dir}/whep_burst_client.ts`, `${media.base}${PATH.whep(id)}`, "1000", `${dir.path}/offer.sdp`], { name: "whep-burst" });
    cleanups.push(() => client.stop());
    expect((await client.exited).code).toBe(0);
    clearInterval(watch);
    const burst = JSON.parse(client.output("stdout").trim().split("\n").at(-1)!);
    console.log(JSON.stringify({ ...burst, mostSeen: most, viewers: media.whep.playback.viewerCount() }));
    expect(stun.answered).toBeGreaterThanOrEqual(5);
    expect(burst.statuses).toEqual({ 201: 5, 503: 995 });
    expect(burst.reasons).toEqual({ total_limit: 995 });
    expect(media.whep.playback.viewerCount()).toBe(5);
    expect(most).toBeLessThanOrEqual(5);
    expect(media.whep.playback.caps.negotiating()).toBe(0);
    const metrics = await (await media.api("/metrics")).text();
    expect(metrics).toContain('vsb_whep_rejected_total{reason="total_limit"} 995');
    expect(metrics).toContain("vsb_whep_viewers 5");
  }, 120_000);
});
