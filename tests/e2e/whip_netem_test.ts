// Loss on a real link: the publisher (with its gst child) and the WHIP ingest run in two
// network namespaces joined by a veth pair with `tc netem loss 5%` on both ends (media
// and RTCP are lost). NACK (RFC 4585 §6.2.1) + RTX (RFC 4588) must recover: ≥ 99 % of the
// pictures come out whole, none with a hole (frame seq contiguous), keyframe first.
// The namespaces have private addresses on a link of their own: nothing leaves the machine.
import { afterAll, describe, expect } from "bun:test";
import { spawnSync } from "node:child_process";
import { hasElements, skipUnless } from "../support/gst.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { GST_ELEMENTS, waitFor } from "./whip_harness.ts";

const tag = String(process.pid % 100000);
const NS_SEND = `vsbs${tag}`;
const NS_PROXY = `vsbp${tag}`;
const subnet = `10.213.${process.pid % 250}`;
const SEND_ADDR = `${subnet}.1`;
const PROXY_ADDR = `${subnet}.2`;
const PEER = new URL("./whip_netem_peer.ts", import.meta.url).pathname;

function sh(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  return { ok: r.status === 0, err: `${r.stderr ?? ""}${r.error ?? ""}`.trim() };
}

/** Makes the namespaces, the veth link and netem; returns why not, if it cannot. */
function setUp(): string | undefined {
  const steps = [
    ["ip", "netns", "add", NS_SEND],
    ["ip", "netns", "add", NS_PROXY],
    ["ip", "link", "add", `va${tag}`, "type", "veth", "peer", "name", `vb${tag}`],
    ["ip", "link", "set", `va${tag}`, "netns", NS_SEND],
    ["ip", "link", "set", `vb${tag}`, "netns", NS_PROXY],
    ["ip", "-n", NS_SEND, "addr", "add", `${SEND_ADDR}/30`, "dev", `va${tag}`],
    ["ip", "-n", NS_PROXY, "addr", "add", `${PROXY_ADDR}/30`, "dev", `vb${tag}`],
    ["ip", "-n", NS_SEND, "link", "set", `va${tag}`, "up"],
    ["ip", "-n", NS_PROXY, "link", "set", `vb${tag}`, "up"],
    ["ip", "-n", NS_SEND, "link", "set", "lo", "up"],
    ["ip", "-n", NS_PROXY, "link", "set", "lo", "up"],
    ["ip", "netns", "exec", NS_SEND, "tc", "qdisc", "add", "dev", `va${tag}`, "root", "netem", "loss", "5%", "delay", "5ms"],
    ["ip", "netns", "exec", NS_PROXY, "tc", "qdisc", "add", "dev", `vb${tag}`, "root", "netem", "loss", "5%", "delay", "5ms"],
  ];
  for (const step of steps) {
    const r = sh(step);
    if (!r.ok) return `"${step.join(" ")}" failed: ${r.err}`;
  }
  return undefined;
}

function tearDown(): void {
  sh(["ip", "netns", "del", NS_SEND]);
  sh(["ip", "netns", "del", NS_PROXY]);
}

const canRun = hasElements(...GST_ELEMENTS) && process.getuid?.() === 0;
const why = canRun ? setUp() : "needs root and GStreamer";
if (why) tearDown();
const it = skipUnless(canRun && !why, `netem loss test cannot set up its lossy link: ${why}`);

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  tearDown();
}, 30_000);

const last = (p: Proc) => JSON.parse(p.output("stdout").trim().split("\n").at(-1)!);

describe("WHIP over a lossy link (netem 5 % both ways)", () => {
  it("NACK + RTX recover: ≥ 99 % of pictures whole, none with a hole", async () => {
    const bun = process.execPath;
    const proxy = spawnTracked("ip", ["netns", "exec", NS_PROXY, bun, PEER, "proxy", PROXY_ADDR], { name: "netem-proxy" });
    procs.push(proxy);
    const url = (await proxy.waitForLine(/^http:/, { stream: "stdout", timeoutMs: 15_000 })).trim();
    const sender = spawnTracked("ip", ["netns", "exec", NS_SEND, bun, PEER, "sender", url, SEND_ADDR], { name: "netem-sender" });
    procs.push(sender);
    await sender.waitForLine(/"state":"connected"/, { stream: "stdout", timeoutMs: 20_000 });
    await Bun.sleep(10_000);
    await sender.stop();
    await Bun.sleep(500);
    const tx = JSON.parse(sender.output("stdout").trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!);
    expect(await waitFor(() => last(proxy).frames > 0, 1000)).toBe(true);
    const rx = last(proxy);
    console.log(JSON.stringify({ netemLoss5: { sender: tx, proxy: rx, wholeRatio: +(rx.frames / tx.pictures).toFixed(4) } }));
    expect(rx.keyframeFirst).toBe(true);
    expect(rx.seqOk).toBe(true);
    expect(rx.nacks).toBeGreaterThan(20);
    expect(tx.nacks).toBeGreaterThan(20);
    expect(rx.frames / tx.pictures).toBeGreaterThanOrEqual(0.99);
  }, 90_000);
});
