// Benchmark of the WHIP path alone (not a test): N werift publishers in one process replay
// an RFC 4571 RTP capture at 30 pictures/s into the WHIP ingest + FrameAssembler in another
// process; prints one JSON line per N with each side's CPU (% of one core, from /proc) and
// RSS, packets and frames in/out.
//
//   bun tests/e2e/whip_bench.ts CAPTURE.rtp [N ...]      (default N = 1 4 8 16 32)
//
// Make a 1280x720 ~4 Mbit/s capture once with:
//   gst-launch-1.0 -q videotestsrc num-buffers=300 pattern=snow ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1 \
//     ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 bitrate=4000 ! video/x-h264,profile=constrained-baseline \
//     ! h264parse config-interval=-1 ! rtph264pay mtu=1200 ! rtpstreampay ! filesink location=/tmp/720p_4m.rtp
import { readFileSync } from "node:fs";
import { createLogger } from "../../agent/log.ts";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { assemblerSinks } from "../../proxy/ingest/assembler_sink.ts";
import { configureLog } from "../../proxy/log.ts";
import { spawnTracked } from "../support/procs.ts";
import { startWhipServer, waitFor } from "./whip_harness.ts";

const WARMUP_MS = 3000;
const MEASURE_MS = 10_000;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime (clock ticks, 100/s)
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

/** Role "proxy": the ingest with assemblers; prints its URL base, then totals every second. */
async function proxyRole(ids: number): Promise<void> {
  configureLog({ level: "warn" });
  let frames = 0;
  let dropped = 0;
  const tokens = new Map<number, string>();
  for (let i = 1; i <= ids; i++) tokens.set(i, "t");
  const server = startWhipServer(tokens, {
    sinks: assemblerSinks({
      onFrames: (_i, units) => void (frames += units.length),
      onClose: (_i, _r, a) => (dropped += Object.values(a.counters.framesDropped).reduce((x, y) => x + y, 0)),
    }),
  });
  console.log(server.base);
  setInterval(() => {
    const t = server.registry.totals();
    console.log(JSON.stringify({ packets: t.packets, bytes: t.bytes, nacks: t.nackedSeqs, frames, dropped }));
  }, 250);
}

/** Role "sender": N publishers replaying the capture, one picture per 33.3 ms each. */
async function senderRole(base: string, n: number, file: string): Promise<void> {
  const packets = new RtpStreamReader().push(new Uint8Array(readFileSync(file)));
  const pictures: Uint8Array[][] = [];
  let last = -1;
  for (const p of packets) {
    const ts = new DataView(p.buffer, p.byteOffset).getUint32(4);
    if (ts !== last) pictures.push([]);
    last = ts;
    pictures.at(-1)!.push(p);
  }
  const log = createLogger({}, () => {});
  const pubs: WhipPublisher[] = [];
  for (let i = 1; i <= n; i++) {
    const pub = new WhipPublisher({ url: `${base}/whip/${i}`, token: "t", interfaceAddresses: ["127.0.0.1"], log });
    await pub.start();
    pubs.push(pub);
  }
  await waitFor(() => pubs.every((p) => p.state === "connected"), 10_000);
  let sent = 0;
  const start = performance.now();
  let tick = 0;
  const seqs = pubs.map(() => 0);
  const step = () => {
    const picture = pictures[tick % pictures.length]!;
    pubs.forEach((pub, k) => {
      for (const p of picture) {
        const copy = p.slice();
        const view = new DataView(copy.buffer);
        view.setUint16(2, seqs[k]!++ & 0xffff);
        view.setUint32(4, (tick * 3000) >>> 0);
        pub.sendRtp(copy);
        sent++;
      }
    });
    tick++;
    setTimeout(step, Math.max(0, start + tick * (1000 / 30) - performance.now()));
  };
  step();
  setInterval(() => console.log(JSON.stringify({ sent, connected: pubs.filter((p) => p.state === "connected").length })), 250);
}

async function bench(file: string, n: number): Promise<void> {
  const self = new URL(import.meta.url).pathname;
  const proxy = spawnTracked(process.execPath, [self, "--proxy", String(n)], { name: "bench-proxy" });
  const base = (await proxy.waitForLine(/^http:/, { stream: "stdout" })).trim();
  const sender = spawnTracked(process.execPath, [self, "--sender", base, String(n), file], { name: "bench-sender" });
  await sender.waitForLine(/"sent"/, { stream: "stdout", timeoutMs: 30_000 });
  await Bun.sleep(WARMUP_MS);
  const last = (p: typeof proxy) => JSON.parse(p.output("stdout").trim().split("\n").at(-1)!);
  const p0 = cpuTicks(proxy.pid), s0 = cpuTicks(sender.pid), in0 = last(proxy), out0 = last(sender);
  await Bun.sleep(MEASURE_MS);
  const p1 = cpuTicks(proxy.pid), s1 = cpuTicks(sender.pid), in1 = last(proxy), out1 = last(sender);
  const secs = MEASURE_MS / 1000;
  console.log(JSON.stringify({
    n,
    proxyCpuPct: Math.round((p1 - p0) / secs),
    proxyCpuPctPerStream: +((p1 - p0) / secs / n).toFixed(2),
    proxyRssMb: rssMb(proxy.pid),
    senderCpuPct: Math.round((s1 - s0) / secs),
    senderCpuPctPerStream: +((s1 - s0) / secs / n).toFixed(2),
    senderRssMb: rssMb(sender.pid),
    mbitPerStream: +(((in1.bytes - in0.bytes) * 8) / secs / n / 1e6).toFixed(2),
    packetsSent: out1.sent - out0.sent,
    packetsIn: in1.packets - in0.packets,
    framesOut: in1.frames - in0.frames,
    framesExpected: Math.round(30 * secs * n),
    nackedSeqs: in1.nacks - in0.nacks,
    connected: out1.connected,
  }));
  await sender.stop();
  await proxy.stop();
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "--proxy") await proxyRole(Number(rest[0]));
else if (mode === "--sender") await senderRole(rest[0]!, Number(rest[1]), rest[2]!);
else {
  const file = mode ?? "/tmp/720p_4m.rtp";
  const ns = rest.length ? rest.map(Number) : [1, 4, 8, 16, 32];
  for (const n of ns) await bench(file, n);
  process.exit(0);
}
