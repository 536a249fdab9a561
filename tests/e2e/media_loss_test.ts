// Loss on a real link, in the real binary: the sender (gst → WhipPublisher), a relay and the
// proxy (with its own RabbitMQ) run in three network namespaces joined by two veth pairs.
// This kernel has no sch_netem (nor tc actions or nftables), so the relay namespace drops 5 % of
// the RTP and RTCP datagrams each way in user space (STUN and DTLS pass: werift's DTLS does not
// recover every lost handshake flight); HTTP is routed by the relay's kernel without loss. NACK (RFC 4585 §6.2.1) + RTX (RFC 4588) must recover:
// ≥ 99 % of the pictures are published, keyframe first, a seq jump only for a dropped frame and
// then at a keyframe, and the bodies decode
// to exactly as many pictures as messages (none with a hole). Private addresses only, on links
// of the test's own namespaces: nothing leaves the machine.
//
//   S 10.201.x.1 ─veth─ 10.201.x.2 R 10.202.x.1 ─veth─ 10.202.x.2 P
//   sender               relay (UDP, 5 % loss)           proxy + RabbitMQ
import { afterAll, describe, expect } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hasElements, skipUnless } from "../support/gst.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { tempDir } from "../support/temp_dir.ts";
import { decodedPictures } from "./media_harness.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";

const tag = String(process.pid % 100000);
const x = process.pid % 250;
const NS = { s: `vlS${tag}`, r: `vlR${tag}`, p: `vlP${tag}` };
const ADDR = { s: `10.201.${x}.1`, rs: `10.201.${x}.2`, rp: `10.202.${x}.1`, p: `10.202.${x}.2` };
const ICE_PORTS = [41_000 + (process.pid % 500) * 2, 41_001 + (process.pid % 500) * 2];
const PEER = new URL("./media_loss_peer.ts", import.meta.url).pathname;
const root = new URL("../..", import.meta.url).pathname;

function sh(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  return { ok: r.status === 0, err: `${r.stderr ?? ""}${r.error ?? ""}`.trim() };
}

/** Makes the namespaces, links, addresses and routes; returns why not, if it cannot. */
function setUp(): string | undefined {
  const steps = [
    ...Object.values(NS).map((ns) => ["ip", "netns", "add", ns]),
    ["ip", "link", "add", `vla${tag}`, "type", "veth", "peer", "name", `vlb${tag}`],
    ["ip", "link", "add", `vlc${tag}`, "type", "veth", "peer", "name", `vld${tag}`],
    ["ip", "link", "set", `vla${tag}`, "netns", NS.s], ["ip", "link", "set", `vlb${tag}`, "netns", NS.r],
    ["ip", "link", "set", `vlc${tag}`, "netns", NS.r], ["ip", "link", "set", `vld${tag}`, "netns", NS.p],
    ["ip", "-n", NS.s, "addr", "add", `${ADDR.s}/30`, "dev", `vla${tag}`],
    ["ip", "-n", NS.r, "addr", "add", `${ADDR.rs}/30`, "dev", `vlb${tag}`],
    ["ip", "-n", NS.r, "addr", "add", `${ADDR.rp}/30`, "dev", `vlc${tag}`],
    ["ip", "-n", NS.p, "addr", "add", `${ADDR.p}/30`, "dev", `vld${tag}`],
    ...Object.values(NS).map((ns) => ["ip", "-n", ns, "link", "set", "lo", "up"]),
    ["ip", "-n", NS.s, "link", "set", `vla${tag}`, "up"], ["ip", "-n", NS.r, "link", "set", `vlb${tag}`, "up"],
    ["ip", "-n", NS.r, "link", "set", `vlc${tag}`, "up"], ["ip", "-n", NS.p, "link", "set", `vld${tag}`, "up"],
    ["ip", "-n", NS.s, "route", "add", "default", "via", ADDR.rs],
    ["ip", "-n", NS.p, "route", "add", "default", "via", ADDR.rp],
    ["ip", "netns", "exec", NS.r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
  ];
  for (const step of steps) {
    const r = sh(step);
    if (!r.ok) return `"${step.join(" ")}" failed: ${r.err}`;
  }
  return undefined;
}

function tearDown(): void {
  for (const ns of Object.values(NS)) sh(["ip", "netns", "del", ns]);
}

const canRun = hasElements(...GST_ELEMENTS, "avdec_h264") && hasRabbit() && process.getuid?.() === 0;
const why = canRun ? setUp() : "needs root, RabbitMQ and GStreamer";
if (why) tearDown();
const it = skipUnless(canRun && !why, `loss test cannot set up its namespaces: ${why}`);

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  tearDown();
}, 60_000);

const lastJson = (p: Proc) => JSON.parse(p.output("stdout").trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!);
const inNs = (ns: string, name: string, args: string[]) => {
  const proc = spawnTracked("ip", ["netns", "exec", ns, process.execPath, PEER, ...args], { cwd: root, name });
  procs.push(proc);
  return proc;
};

describe("media path over a lossy link (5 % each way)", () => {
  it("NACK + RTX recover: ≥ 99 % of pictures published, keyframe first, seq jumps only at keyframes, all decode", async () => {
    const dir = tempDir("vsb-loss-out-");
    const out = join(dir.path, "frames.h264");
    const proxy = inNs(NS.p, "loss-proxy", ["proxy", ADDR.p, ADDR.rs, `${ICE_PORTS[0]}-${ICE_PORTS[1]}`, out]);
    const reg = JSON.parse(await proxy.waitForLine(/whipUrl/, { stream: "stdout", timeoutMs: 60_000 }));
    const relay = inNs(NS.r, "loss-relay", ["relay", ADDR.rs, ICE_PORTS.join(","), ADDR.p, "5"]);
    await relay.waitForLine(/passed/, { stream: "stdout", timeoutMs: 10_000 });
    const sender = inNs(NS.s, "loss-sender", ["sender", reg.whipUrl, reg.token, ADDR.s]);
    await sender.waitForLine(/"state":"connected"/, { stream: "stdout", timeoutMs: 30_000 });
    await Bun.sleep(10_000);
    await sender.stop();
    await Bun.sleep(1500);
    const lines = sender.output("stdout").trim().split("\n").filter((l) => l.startsWith("{"));
    const sent: number[] = JSON.parse(lines.find((l) => l.startsWith('{"timestamps"'))!).timestamps;
    const tx = JSON.parse(lines.filter((l) => l.startsWith('{"state"')).at(-1)!);
    const rx = lastJson(proxy);
    const link = lastJson(relay);
    await proxy.stop({ graceMs: 20_000 }); // the peer stops its own RabbitMQ and epmd first
    const decoded = await decodedPictures(out);
    // Whole pictures: those sent while connected that were published (by RTP timestamp).
    const published = new Set<number>(JSON.parse(readFileSync(`${out}.json`, "utf8")));
    const whole = sent.filter((ts) => published.has(ts)).length / sent.length;
    const missing = sent.map((ts, i) => (published.has(ts) ? -1 : i)).filter((i) => i >= 0);
    if (missing.length) console.log(JSON.stringify({ missingOfSent: missing, sent: sent.length }));
    console.log(JSON.stringify({ loss5: { sender: tx, proxy: rx, relay: link, decoded, whole: +whole.toFixed(4) } }));
    expect(link.up + link.down).toBeGreaterThan(50);
    expect(rx.keyframeFirst).toBe(true);
    expect(rx.seqOk).toBe(true);
    expect(rx.seqMissing).toBeLessThanOrEqual(Math.ceil(sent.length * 0.01)); // drops show as seq jumps
    expect(rx.nacks).toBeGreaterThan(20);
    expect(rx.recovered).toBeGreaterThan(20); // the metric counts the NACKed packets that came back
    expect(tx.nacks).toBeGreaterThan(20); // the sender heard the NACKs (from the former whip_netem_test)
    expect(sent.length).toBeGreaterThan(250);
    expect(whole).toBeGreaterThanOrEqual(0.99);
    expect(decoded).toBe(rx.frames);
  }, 150_000);
});
