// One side of the netem loss test (tests/e2e/whip_netem_test.ts), run inside a network
// namespace with `ip netns exec`:
//   bun whip_netem_peer.ts proxy ADDR        WHIP ingest + FrameAssembler on ADDR; prints its URL, then stats
//   bun whip_netem_peer.ts sender URL ADDR   gst → WhipPublisher from ADDR; prints stats
// Stats are one JSON line per 250 ms on stdout.
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { assemblerSinks } from "../../proxy/ingest/assembler_sink.ts";
import { configureLog } from "../../proxy/log.ts";
import type { FrameAssembler } from "../../proxy/media/frame_assembler.ts";
import { gstRtpArgv, startWhipServer } from "./whip_harness.ts";

const [role, a, b] = process.argv.slice(2);

if (role === "proxy") {
  configureLog({ level: "warn" });
  let assembler: FrameAssembler | undefined;
  let keyframeFirst: boolean | undefined;
  let seqOk = true;
  let frames = 0;
  const server = startWhipServer(new Map([[1, "t"]]), {
    ice: { addresses: [a!], bindAddress: a!, lite: true },
    sinks: assemblerSinks({
      onOpen: (_i, x) => (assembler = x),
      onFrames: (_i, units) => {
        for (const u of units) {
          keyframeFirst ??= u.keyframe;
          if (u.seq !== frames) seqOk = false;
          frames++;
        }
      },
    }),
  }, a!);
  console.log(server.whipUrl(1));
  setInterval(() => {
    const c = assembler?.counters;
    console.log(JSON.stringify({ frames, seqOk, keyframeFirst, lost: c?.lost, nacks: c?.nacks, plis: c?.plis, dropped: c?.framesDropped, packets: c?.packets }));
  }, 250);
} else if (role === "sender") {
  const pub = new WhipPublisher({ url: a!, token: "t", interfaceAddresses: [b!], log: createLogger({}, () => {}) });
  const [command, ...args] = gstRtpArgv({ bitrate: 2000, width: 640, height: 480 });
  const gst = Bun.spawn([command!, ...args], { stdout: "pipe", stderr: "ignore" });
  const pictures = new Set<number>();
  process.on("SIGINT", () => {
    gst.kill("SIGINT");
    void pub.close().finally(() => process.exit(0));
  });
  void readRtpStream(gst.stdout, (p) => {
    if (pub.state === "connected") pictures.add(new DataView(p.buffer, p.byteOffset).getUint32(4));
    pub.sendRtp(p);
  });
  await pub.start();
  setInterval(() => console.log(JSON.stringify({ state: pub.state, pictures: pictures.size, ...pub.counters })), 250);
}
