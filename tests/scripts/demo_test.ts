// `make demo` with its stdout a pipe (as under `| tee`, `> demo.log`, nohup or CI): the banner
// and vsb-consume's per-second lines arrive on stdout as printable UTF-8 text, never H.264
// (no NUL byte, no Annex-B start code), and Ctrl-C stops every process.
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { hasCommand, skipUnless } from "../support/gst.ts";
import { LineLog } from "../support/line_log.ts";
import { freePort, isTcpPortFree } from "../support/ports.ts";
import { groupMembers, spawnTracked } from "../support/procs.ts";
import { hasRabbit } from "../support/rabbitmq.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Offsets of Annex-B start codes (00 00 01, which 00 00 00 01 contains) in `bytes`. */
function startCodes(bytes: Uint8Array): number[] {
  const at: number[] = [];
  for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) at.push(i);
  return at;
}

/** Lines with a control character other than tab (what a log viewer would show as garbage). */
function unprintable(lines: string[]): string[] {
  return lines.filter((line) => /[\u0000-\u0008\u000b-\u001f\u007f]/.test(line));
}

skipUnless(hasRabbit() && hasCommand("curl"), "make demo needs RabbitMQ and curl (run make setup as root)")(
  "make demo piped: frames within 60 s, per-second lines on stdout as text with no H.264 bytes; Ctrl-C stops all",
  async () => {
    const port = await freePort();
    const started = performance.now();
    // stdout: "pipe" hands us the raw bytes of the demo's stdout, which is a pipe, not a TTY.
    const demo = spawnTracked("make", ["-s", "demo", `PORT=${port}`], { cwd: root, name: "demo", stdout: "pipe" });
    const raw: Buffer[] = [];
    const lines = new LineLog(10_000);
    const decoder = new TextDecoder(); // lenient here: strictness is checked on the whole, below
    let partial = "";
    demo.child.stdout!.on("data", (chunk: Buffer) => {
      raw.push(chunk);
      const parts = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) lines.push(line);
    });
    demo.child.stdout!.on("end", () => lines.close("demo closed its stdout"));

    await LineLog.waitAny([lines], "Press Ctrl-C to stop everything.", 100_000, "demo");
    const banner = lines.text();
    expect(banner).toContain(`dashboard      http://127.0.0.1:${port}/`);
    const id = Number(banner.match(/dataflow +(\d+), registered by vsb-agent/)![1]);
    // vsb-consume's line a second, on the demo's stdout; frames must flow within 60 s.
    const line = await LineLog.waitAny([lines], /^[1-9]\d* fps .* 1 dataflow/, 30_000, "demo");
    const firstFramesMs = performance.now() - started;
    console.log(`make demo (stdout a pipe) → first frames line: ${Math.round(firstFramesMs)} ms`);
    expect(firstFramesMs).toBeLessThan(60_000); // issue 7: frames within 60 s of the start (installs done)
    expect(line).toContain("gaps 0");
    // Two more seconds of frames: had the consumer written video to stdout, it would be here.
    await LineLog.waitAny([lines], /^[1-9]\d* fps .* total ([6-9]\d|\d{3,}) frames/, 10_000, "demo");
    const listed = await (await fetch(`http://127.0.0.1:${port}/dataflows/${id}`)).json();
    expect(listed).toMatchObject({ id, active: true, state: "live", send: true });
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain("vsb-proxy");
    const work = banner.match(/logs +(\S+)\/\{proxy/)![1]!;

    // Ctrl-C in a terminal reaches the whole process group; make reports the script's 130 as 2.
    process.kill(-demo.pid, "SIGINT");
    const status = await demo.exited;
    expect(status.code === 2 || status.signal === "SIGINT").toBe(true);
    expect(groupMembers(demo.pid)).toEqual([]);
    expect(await isTcpPortFree(port)).toBe(true);
    expect(existsSync(work)).toBe(false);

    const bytes = Buffer.concat(raw);
    console.log(`make demo stdout: ${bytes.length} bytes, ${lines.text().split("\n").length - 1} lines`);
    expect(bytes.includes(0)).toBe(false);
    expect(startCodes(bytes)).toEqual([]);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); // throws on invalid UTF-8
    expect(unprintable(text.split("\n"))).toEqual([]);
    expect(bytes.length).toBeLessThan(64 * 1024); // text lines only: 1280x720 video would be MBs
  },
  150_000,
);
