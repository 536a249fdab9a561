// Helpers of bench/proxy.ts: the pre-encoded capture (made once by gst, cached under .tmp/),
// pictures of it replayed at 30 fps with continuous RTP numbering, the sender role (N werift
// WhipPublishers from agent/push, one registered dataflow each; with VSB_BENCH_TWCC=1 werift
// publishers that also offer transport-cc, tests/support/twcc_publisher.ts), /proc readings and
// Prometheus parsing.
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../agent/log.ts";
import { RtpStreamReader } from "../agent/push/rtp_stream_reader.ts";
import { WhipPublisher } from "../agent/push/whip_publisher.ts";
import { agentBody } from "../tests/proxy/sensor_body.ts";
import { groupMembers, spawnTracked } from "../tests/support/procs.ts";
import { TwccPublisher } from "../tests/support/twcc_publisher.ts";

const root = new URL("..", import.meta.url).pathname;

/** The 1280x720 30 fps ~4 Mbit/s RTP capture (RFC 4571 framed), made once. */
export async function ensureCapture(): Promise<string> {
  const dir = join(root, ".tmp", "bench");
  const file = join(dir, "720p30_4m.rtp");
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const part = `${file}.part`;
  const gst = spawnTracked("gst-launch-1.0", [
    "-q", "videotestsrc", "num-buffers=300", "pattern=snow", "!", "video/x-raw,format=I420,width=1280,height=720,framerate=30/1", "!",
    "x264enc", "tune=zerolatency", "speed-preset=veryfast", "key-int-max=30", "bitrate=4000", "!", "video/x-h264,profile=constrained-baseline", "!",
    "h264parse", "config-interval=-1", "!", "rtph264pay", "mtu=1200", "!", "rtpstreampay", "!", "filesink", `location=${part}`,
  ], { name: "capture" });
  const status = await gst.exited;
  if (status.code !== 0) throw new Error(`making the capture failed: ${gst.output("stderr")}`);
  renameSync(part, file);
  return file;
}

/** The capture's RTP packets grouped by picture (RTP timestamp). */
export function pictures(file: string): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  let last = -1;
  for (const p of new RtpStreamReader().push(new Uint8Array(readFileSync(file)))) {
    const ts = new DataView(p.buffer, p.byteOffset).getUint32(4);
    if (ts !== last) out.push([]);
    last = ts;
    out.at(-1)!.push(p);
  }
  return out;
}

/** Calls `tick(i)` for picture i at 30 per second (catching up without drift) until stopped. */
export function every30fps(tick: (i: number) => void): () => void {
  const start = performance.now();
  let i = 0;
  let timer: ReturnType<typeof setTimeout>;
  const step = () => {
    tick(i++);
    timer = setTimeout(step, Math.max(0, start + i * (1000 / 30) - performance.now()));
  };
  step();
  return () => clearTimeout(timer);
}

/** Picture `i` of `pics` as new packets: sequence numbers from `seq`, timestamp i × 3000. */
export function renumbered(pics: Uint8Array[][], i: number, seq: { n: number }): Uint8Array[] {
  return pics[i % pics.length]!.map((p) => {
    const copy = p.slice();
    const view = new DataView(copy.buffer);
    view.setUint16(2, seq.n++ & 0xffff);
    view.setUint32(4, (i * 3000) >>> 0);
    return copy;
  });
}

/**
 * Sender role: registers `n` dataflows at `base`, pushes the capture to each; JSON lines on stdout.
 * VSB_BENCH_TOKEN is its sensor token, VSB_BENCH_CA_FILE the CA an https `base` chains to.
 */
export async function senderRole(base: string, n: number, file: string): Promise<void> {
  const pics = pictures(file);
  const log = createLogger({}, () => {});
  const caFile = process.env.VSB_BENCH_CA_FILE;
  const tls = caFile ? { tls: { ca: readFileSync(caFile, "utf8") } } : {};
  const token = process.env.VSB_BENCH_TOKEN;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const trusting = ((input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, ...tls } as RequestInit)) as typeof fetch;
  // VSB_BENCH_TWCC=1: senders that offer transport-cc, so the proxy also sends TWCC feedback.
  const twcc = process.env.VSB_BENCH_TWCC === "1";
  const pubs: (WhipPublisher | TwccPublisher)[] = [];
  const ids: number[] = [];
  for (let k = 0; k < n; k++) {
    const res = await trusting(`${base}/dataflows`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify(agentBody()) });
    const reg = await res.json() as { id: number; ingest: { whipUrl: string; token: string } };
    const pub = twcc
      ? new TwccPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], fetch: trusting })
      : new WhipPublisher({ url: reg.ingest.whipUrl, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log, fetch: trusting });
    await pub.start();
    pubs.push(pub);
    ids.push(reg.id);
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !pubs.every((p) => p.state === "connected")) await new Promise((r) => setTimeout(r, 50));
  let sent = 0;
  let packets = 0;
  const seqs = pubs.map(() => ({ n: 0 }));
  // Independent cameras are not in phase: stream k starts k/n of a frame interval after stream 0.
  const stops: (() => void)[] = [];
  const starts = pubs.map((pub, k) => setTimeout(() => {
    stops.push(every30fps((i) => {
      for (const p of renumbered(pics, i, seqs[k]!)) {
        pub.sendRtp(p);
        packets++;
      }
      sent++;
    }));
  }, (k * 1000) / 30 / n));
  const stop = () => {
    starts.forEach(clearTimeout);
    stops.forEach((s) => s());
  };
  // Keep-alives, as an agent sends them (a dataflow without them expires after 3 periods).
  const keepalive = setInterval(() => {
    for (const id of ids) void trusting(`${base}/dataflows/${id}`, { method: "PUT", headers: auth }).catch(() => undefined);
  }, 2000);
  const feedbacks = () => pubs.reduce((sum, p) => sum + (p instanceof TwccPublisher ? p.feedbacks.length : 0), 0);
  const report = () => console.log(JSON.stringify({ ids, pictures: sent, packets, connected: pubs.filter((p) => p.state === "connected").length, twccFeedbacks: feedbacks() }));
  const timer = setInterval(report, 200);
  process.once("SIGINT", () => {
    stop();
    clearInterval(timer);
    clearInterval(keepalive);
    report();
    void Promise.all(pubs.map((p) => p.close())).finally(() => process.exit(0));
  });
}

/** utime + stime of `pid` (not its children), in clock ticks (100 per second). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** System (kernel) CPU ticks of `pid`. */
export function sysTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12]);
}

/** CPU ticks of every live process in group `pgid` (RabbitMQ's wrapper, beam.smp, epmd). */
export function groupCpuTicks(pgid: number): number {
  let n = 0;
  for (const pid of groupMembers(pgid)) {
    try {
      n += cpuTicks(pid);
    } catch {
      // ended while we looked
    }
  }
  return n;
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Resident set size of `pid` in MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

/** Sum of every sample of `name` (all label sets) in a Prometheus text; or of those matching `filter`. */
export function sumMetric(text: string, name: string, filter = ""): number {
  let n = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    if (filter && !line.includes(filter)) continue;
    n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

/** Cumulative buckets `le → count` of histogram `name`. */
export function buckets(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`);
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m) out.set(m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2]));
  }
  return out;
}

/** Quantile `q` (0..1) of the observations between two bucket snapshots, interpolated within its bucket, in ms. */
export function quantileMs(before: Map<number, number>, after: Map<number, number>, q: number): number | null {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  const want = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const count = (after.get(le) ?? 0) - (before.get(le) ?? 0);
    if (count >= want) {
      if (le === Infinity) return prevLe * 1000;
      const frac = count === prevCount ? 1 : (want - prevCount) / (count - prevCount);
      return +((prevLe + (le - prevLe) * frac) * 1000).toFixed(2);
    }
    prevLe = le;
    prevCount = count;
  }
  return null;
}

/** Upper bound (ms) of the highest bucket that got observations between two snapshots. */
export function maxBucketMs(before: Map<number, number>, after: Map<number, number>): number | null {
  const les = [...after.keys()].sort((a, b) => a - b);
  let prev = 0;
  let top: number | null = null;
  for (const le of les) {
    const count = (after.get(le) ?? 0) - (before.get(le) ?? 0);
    if (count > prev) top = le === Infinity ? Infinity : le * 1000;
    prev = count;
  }
  return top;
}
