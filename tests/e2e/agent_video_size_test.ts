// Sources that are not encoded by the agent (file, udp, rtsp, H.264 cameras) ignore --width and
// --height: the agent reads the real size from the stream's SPS and sends it with the next
// keep-alive, so the registry (and the dashboard) show what consumers will decode.
import { expect } from "bun:test";
import { resolve } from "node:path";
import { PATH } from "../../shared/mod.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { onCleanup, waitUntil } from "../support/procs.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { agentArgs, demand, registeredId, startAgent, startProxyUnderTest } from "./agent_e2e_harness.ts";

const FILE = resolve(import.meta.dir, "../fixtures/h264_320x240_single_slice.h264");

skipUnless(hasRabbit() && hasElements("h264parse", "rtpstreampay"), "needs rabbitmq-server and GStreamer (h264parse, rtpstreampay)")(
  "a 320x240 file started with --width 640 --height 480 is registered as 640x480, then updated to 320x240 from its SPS",
  async () => {
    const rabbit = await getRabbit();
    const proxy = await startProxyUnderTest(rabbit, 2);
    onCleanup(() => proxy.stop());
    const args = agentArgs(proxy, undefined, ["--loop"]);
    args[args.indexOf("test")] = `file:${FILE}`;
    args[args.indexOf("320")] = "640";
    args[args.indexOf("240")] = "480";
    const agent = startAgent(args);
    const id = await registeredId(agent, 30_000);
    const videoInfo = async () => (await (await fetch(`${proxy.base}${PATH.dataflow(id)}`)).json()).metadata?.videoInfo;
    expect(await videoInfo()).toMatchObject({ width: 640, height: 480, source: "file" });
    await demand(proxy, id);
    const line = await agent.waitForLine(/"msg":"video size detected"/, { timeoutMs: 20_000, stream: "stderr" });
    expect(JSON.parse(line)).toMatchObject({ width: 320, height: 240 });
    const updated = await waitUntil("videoInfo from the SPS", async () => ((await videoInfo())?.width === 320 ? videoInfo() : undefined), { timeoutMs: 10_000 });
    expect(updated).toMatchObject({ width: 320, height: 240, source: "file" });
    await agent.stop();
  },
  90_000,
);
