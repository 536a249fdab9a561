// 5GMETA's way of consuming frames, on real parts: `bun proxy/main.ts` + the real RabbitMQ with
// `rabbitmq_amqp1_0` + gst x264 → werift WHIP sender, and a Qpid Proton receiver
// (tests/e2e/amqp10_peer.py, /usr/bin/python3) on the AMQP 1.0 sources of one dataflow
// (`/exchange/video/video.h264.{id}`) and of all (`/exchange/video/#`). One message per frame
// with no seq gap; every application property and the properties section checked with the
// AMQP 1.0 type Proton decoded; the bodies are Annex-B access units, SPS and PPS in front of
// each keyframe, and decode with avdec_h264 to one picture per message.
import { afterAll, describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { amqp10ExchangeSource, DataflowMetadataSchema, eventHeaders, nalType, splitAnnexB, VIDEO_EXCHANGE, videoRoutingKey } from "../../shared/mod.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { decodedPictures, register, startProxyProcess, startSender } from "./media_harness.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";

const PYTHON = "/usr/bin/python3";
const hasProton = spawnSync(PYTHON, ["-c", "import proton"]).status === 0;
const it = skipUnless(hasRabbit() && hasProton && hasElements(...GST_ELEMENTS, "avdec_h264"),
  "needs RabbitMQ, /usr/bin/python3 with Qpid Proton (python3-qpid-proton) and GStreamer (x264enc, avdec_h264)");
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const peer = new URL("./amqp10_peer.py", import.meta.url).pathname;
const FRAMES = 90;

type Typed = [string, unknown];
interface Received {
  source: number;
  properties: Record<string, Typed>;
  appProperties: Record<string, Typed>;
  bodyType: string;
  bodySize: number;
}

describe("AMQP 1.0 consumers (Qpid Proton) of the real proxy's frames", () => {
  it("get one message per frame on /exchange/video/video.h264.{id} and /exchange/video/#, typed properties, decodable bodies", async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyProcess(rabbit.amqpUrl);
    cleanups.push(() => proxy.stop());
    const dir = tempDir("vsb-amqp10-");
    cleanups.push(() => dir.remove());
    const reg = await register(proxy.base);
    const one = amqp10ExchangeSource(VIDEO_EXCHANGE, videoRoutingKey("h264", reg.id));
    expect(one).toBe(`/exchange/video/video.h264.${reg.id}`);
    const receiver = spawnTracked(PYTHON, [
      peer, "receive", rabbit.amqp10Url, "--source", one, "--source", amqp10ExchangeSource(VIDEO_EXCHANGE, "#"),
      "--count", String(FRAMES), "--timeout", "60", "--body-dir", dir.path,
    ], { name: "proton-receiver", keepLines: 10_000 });
    cleanups.push(() => receiver.stop());
    await receiver.waitForLine(/"ready": true/, { timeoutMs: 20_000 });
    const sender = await startSender(reg);
    cleanups.push(() => sender.stop());
    const status = await receiver.exited;
    if (status.code !== 0) throw new Error(`the Proton receiver exited ${status.code ?? status.signal}: ${receiver.output("both").slice(-2000)}`);

    const lines = receiver.output("stdout").split("\n").filter((l) => l.startsWith("{\"source\""));
    const got = lines.map((l) => JSON.parse(l) as Received);
    const metadata = DataflowMetadataSchema.parse(agentBody());
    const base = eventHeaders(reg.id, metadata, 0);
    const now = Date.now();
    for (const source of [0, 1]) {
      const msgs = got.filter((m) => m.source === source);
      expect(msgs.length).toBe(FRAMES);
      // One broker per test run and one dataflow: `#` carries only this dataflow's frames.
      for (const m of msgs) {
        const a = m.appProperties;
        expect(Object.keys(a).sort()).toEqual([
          "body_size", "captureTime", "captureTimeSource", "dataSampleRate", "dataSubType", "dataType", "height", "keyframe", "locationQuadkey",
          "receiveTime", "registeredSourceId", "rtpTimestamp", "seq", "sourceId", "width",
        ]);
        expect(a.registeredSourceId).toEqual(["string", reg.sourceId]);
        expect(a.sourceId).toEqual(["long", reg.id]);
        expect(a.dataType).toEqual(["string", base.dataType]);
        expect(a.dataSubType).toEqual(["string", "h264"]);
        expect(a.dataSampleRate).toEqual(["string", String(base.dataSampleRate)]);
        expect(a.locationQuadkey).toEqual(["string", base.locationQuadkey]);
        expect(a.body_size).toEqual(["string", String(m.bodySize)]);
        expect(a.keyframe![0]).toBe("boolean");
        expect(a.captureTimeSource![0]).toBe("string");
        for (const k of ["seq", "rtpTimestamp", "captureTime", "receiveTime"]) expect(a[k]![0]).toBe("long");
        expect(a.width).toEqual(["long", 320]);
        expect(a.height).toEqual(["long", 240]);
        expect(Math.abs((a.receiveTime![1] as number) - now)).toBeLessThan(120_000);
        expect(m.properties.subject).toEqual(["string", videoRoutingKey("h264", reg.id)]);
        expect(m.properties.content_type).toEqual(["symbol", "video/h264"]);
        // Proton gives creation-time in seconds; the plugin's own mapping would have said 1970.
        expect(m.properties.creation_time).toEqual(["double", (a.receiveTime![1] as number) / 1000]);
        expect(m.bodyType).toBe("binary");
      }
      const seqs = msgs.map((m) => m.appProperties.seq![1] as number);
      expect(seqs.slice(1).every((s, i) => s === seqs[i]! + 1)).toBe(true);
      expect(msgs[0]!.appProperties.keyframe).toEqual(["boolean", true]);

      // Bodies: Annex-B access units in order; every keyframe starts with SPS, PPS.
      const file = join(dir.path, `${source}.h264`);
      const bytes = readFileSync(file);
      let at = 0;
      let keyframes = 0;
      for (const m of msgs) {
        const types = splitAnnexB(bytes.subarray(at, at + m.bodySize)).map((n) => nalType(n[0]!));
        at += m.bodySize;
        if (m.appProperties.keyframe![1] !== true) continue;
        keyframes++;
        expect(types.slice(types.indexOf(7), types.indexOf(7) + 2)).toEqual([7, 8]);
        expect(types.indexOf(7)).toBeLessThan(types.indexOf(5));
      }
      expect(at).toBe(bytes.length);
      expect(keyframes).toBeGreaterThanOrEqual(1);
      expect(await decodedPictures(file)).toBe(FRAMES);
    }
    console.log(JSON.stringify({ amqp10Proton: { dataflow: reg.id, frames: FRAMES, sources: 2, bytes: readFileSync(join(dir.path, "0.h264")).length } }));
  }, 120_000);
});
