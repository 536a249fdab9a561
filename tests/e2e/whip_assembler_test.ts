// The ingest with the real media core on real WebRTC: gst → WhipPublisher → whipRoutes →
// FrameAssembler. On clean loopback every picture comes out whole; with 5 % of the media
// packets dropped on the way out of the publisher, the assembler's NACKs bring them back
// over RTX and (almost) every picture still comes out whole, none with a hole.
import { afterAll, describe, expect } from "bun:test";
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { assemblerSinks } from "../../proxy/ingest/assembler_sink.ts";
import { configureLog } from "../../proxy/log.ts";
import type { AccessUnit, FrameAssembler } from "../../proxy/media/frame_assembler.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { GST_ELEMENTS, spawnGstRtp, startWhipServer, waitFor, type WhipTestServer } from "./whip_harness.ts";

const it = skipUnless(hasElements(...GST_ELEMENTS), `GStreamer elements missing (${GST_ELEMENTS.join(", ")})`);
const servers: WhipTestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

interface Run {
  frames: AccessUnit[];
  assembler?: FrameAssembler;
  /** Distinct RTP timestamps the publisher sent after connecting (pictures). */
  pictures: Set<number>;
  pub: WhipPublisher;
}

async function stream(id: number, seconds: number, lossEvery?: number): Promise<Run> {
  configureLog({ level: "silent" });
  const frames: AccessUnit[] = [];
  const run = { frames, pictures: new Set<number>() } as Run;
  const server = startWhipServer(new Map([[id, "t"]]), {
    sinks: assemblerSinks({
      onFrames: (_info, units) => void frames.push(...units),
      onOpen: (_info, assembler) => (run.assembler = assembler),
    }),
  });
  servers.push(server);
  const pub = new WhipPublisher({ url: server.whipUrl(id), token: "t", interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
  run.pub = pub;
  const gst = spawnGstRtp({ bitrate: 1500 });
  void readRtpStream(gst.child.stdout!, (p) => {
    if (pub.state === "connected") run.pictures.add(new DataView(p.buffer, p.byteOffset).getUint32(4));
    pub.sendRtp(p);
  });
  try {
    await pub.start();
    expect(await waitFor(() => pub.state === "connected", 10_000)).toBe(true);
    if (lossEvery) dropMediaPackets(pub, lossEvery);
    // `seconds` of 30 fps video counted in pictures sent, not in wall time: on a busy host
    // x264 may start well after the session connected.
    expect(await waitFor(() => run.pictures.size >= seconds * 30, seconds * 1000 + 15_000)).toBe(true);
  } finally {
    await gst.stop();
    await Bun.sleep(300); // let the last NACK round trips finish
    await pub.close();
  }
  return run;
}

/** Drops every `n`th H.264 packet (not RTX) as it leaves the publisher's DTLS transport. */
function dropMediaPackets(pub: WhipPublisher, n: number): void {
  const dtls = (pub as unknown as { sender: { dtlsTransport: { sendRtp: (p: unknown, h: { payloadType: number }) => Promise<number> } } }).sender.dtlsTransport;
  const send = dtls.sendRtp.bind(dtls);
  let count = 0;
  dtls.sendRtp = (payload, header) => (header.payloadType === 102 && ++count % n === 0 ? Promise.resolve(0) : send(payload, header));
}

function report(name: string, run: Run): void {
  const c = run.assembler!.counters;
  console.log(JSON.stringify({
    [name]: { pictures: run.pictures.size, framesOut: c.framesOut, framesDropped: c.framesDropped, lost: c.lost, nacks: c.nacks, plis: c.plis, recovered: c.recovered, packets: c.packets, publisherNacks: run.pub.counters.nacks },
  }));
}

describe("WHIP ingest + FrameAssembler on real WebRTC", () => {
  it("clean loopback: every picture sent is published whole, keyframe first, frame seq contiguous", async () => {
    const run = await stream(21, 4);
    report("clean", run);
    expect(run.frames.length).toBeGreaterThan(90);
    expect(run.frames[0]!.keyframe).toBe(true);
    expect(run.frames.every((f, i) => f.seq === i)).toBe(true);
    expect(Object.values(run.assembler!.counters.framesDropped).reduce((a, b) => a + b, 0)).toBe(0);
    // Pictures sent while connected, plus the replayed GOP (sent before `pictures` counted).
    expect(run.frames.length).toBeGreaterThanOrEqual(run.pictures.size - 1);
    expect(run.frames[0]!.width).toBe(320);
  }, 60_000);

  it("5 % packet loss: NACK + RTX recover, ≥ 99 % of pictures whole", async () => {
    const run = await stream(22, 5, 20);
    report("loss5", run);
    const c = run.assembler!.counters;
    expect(c.nacks).toBeGreaterThan(10);
    expect(run.pub.counters.nacks).toBeGreaterThan(10);
    expect(c.recovered).toBeGreaterThan(10); // NACKed packets came back (over RTX, unwrapped by werift)
    expect(run.frames.length / run.pictures.size).toBeGreaterThanOrEqual(0.99);
    // seq counts dropped frames too: it only grows, and a jump (a dropped frame) lands on a keyframe.
    expect(run.frames[0]!.seq).toBe(0);
    run.frames.forEach((f, i) => i > 0 && f.seq !== run.frames[i - 1]!.seq + 1 && expect(f.keyframe).toBe(true));
    expect(run.frames.every((f, i) => i === 0 || f.seq > run.frames[i - 1]!.seq)).toBe(true);
  }, 60_000);
});
