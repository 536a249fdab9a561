// Loss on a real link, in the real binary: the sender (gst → WhipPublisher), a relay and the
// proxy (with its own RabbitMQ) run in three network namespaces joined by two veth pairs.
// This kernel has no sch_netem (nor tc actions or nftables), so the relay namespace drops 5 % of
// the RTP and RTCP datagrams each way in user space (STUN and DTLS pass: werift's DTLS does not
// recover every lost handshake flight); HTTP is routed by the relay's kernel without loss. NACK (RFC 4585 §6.2.1) + RTX (RFC 4588) must recover:
// ≥ 99 % of the pictures are published, keyframe first, a seq jump only for a dropped frame and
// then at a keyframe, and the bodies decode
// to exactly as many pictures as messages (none with a hole). Private addresses only, on links
// of the test's own namespaces (tests/e2e/netns_harness.ts): nothing leaves the machine.
//
//   S 10.201.x.1 ─veth─ 10.201.x.2 R 10.202.x.1 ─veth─ 10.202.x.2 P
//   sender               relay (UDP, 5 % loss)           proxy + RabbitMQ
import { afterAll, describe, expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hasElements, skipUnless } from "../support/gst.ts";
import { hasRabbit } from "../support/rabbitmq.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { tempDir } from "../support/temp_dir.ts";
import { decodedPictures } from "./media_harness.ts";
import { createNetns, type Netns, type NetnsSide } from "./netns_harness.ts";
import { GST_ELEMENTS } from "./whip_harness.ts";

const ICE_PORTS = [41_000, 41_001]; // in the test's own namespaces: no other test's ports there
const PEER = new URL("./media_loss_peer.ts", import.meta.url).pathname;
const root = new URL("../..", import.meta.url).pathname;

const canRun = hasElements(...GST_ELEMENTS, "avdec_h264") && hasRabbit() && process.getuid?.() === 0;
let net: Netns | undefined;
let why = canRun ? undefined : "needs root, RabbitMQ and GStreamer";
if (canRun) {
  try {
    net = createNetns({ prefix: "vloss", subnets: [201, 202] });
  } catch (error) {
    why = (error as Error).message;
  }
}
const it = skipUnless(net !== undefined, `loss test cannot set up its namespaces: ${why}`);
const ADDR = net?.addr ?? { s: "", rs: "", rp: "", p: "" };

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  net?.remove();
}, 60_000);

const lastJson = (p: Proc) => JSON.parse(p.output("stdout").trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!);
const inNs = (side: NetnsSide, name: string, args: string[]) => {
  const [command, ...rest] = net!.exec(side, [process.execPath, PEER, ...args]);
  const proc = spawnTracked(command!, rest, { cwd: root, name });
  procs.push(proc);
  return proc;
};

describe("media path over a lossy link (5 % each way)", () => {
  it("NACK + RTX recover: ≥ 99 % of pictures published, keyframe first, seq jumps only at keyframes, all decode", async () => {
    const dir = tempDir("vsb-loss-out-");
    const out = join(dir.path, "frames.h264");
    const proxy = inNs("p", "loss-proxy", ["proxy", ADDR.p, ADDR.rs, `${ICE_PORTS[0]}-${ICE_PORTS[1]}`, out]);
    const reg = JSON.parse(await proxy.waitForLine(/whipUrl/, { stream: "stdout", timeoutMs: 60_000 }));
    const relay = inNs("r", "loss-relay", ["relay", ADDR.rs, ICE_PORTS.join(","), ADDR.p, "5"]);
    await relay.waitForLine(/passed/, { stream: "stdout", timeoutMs: 10_000 });
    const sender = inNs("s", "loss-sender", ["sender", reg.whipUrl, reg.token, ADDR.s]);
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
