/**
 * sd_notify for both programs (one shared/runtime/watchdog.ts), against a stand-in for systemd's notify socket (a unix datagram
 * socket served by tests/support/notify_listener.py): READY=1 at start, WATCHDOG=1 only while
 * healthy, STOPPING=1 at the end; and the real vsb-proxy process says READY=1 once it listens.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startWatchdog } from "../shared/runtime/watchdog.ts";
import { hasCommand, skipUnless } from "./support/gst.ts";
import { freePort } from "./support/ports.ts";
import { spawnTracked, type Proc } from "./support/procs.ts";
import { tempDir } from "./support/temp_dir.ts";
import { waitUntil } from "./support/wait.ts";

const ROOT = join(import.meta.dir, "..");
const canRun = hasCommand("systemd-notify") && existsSync("/usr/bin/python3");
const it = skipUnless(canRun, "needs systemd-notify and /usr/bin/python3 (a stand-in notify socket)");

async function listener(): Promise<{ socket: string; proc: Proc; lines: () => string[] }> {
  const dir = tempDir("vsb-notify-");
  const socket = join(dir.path, "notify.sock");
  const proc = spawnTracked("/usr/bin/python3", [join(ROOT, "tests/support/notify_listener.py"), socket], { name: "notify" });
  await proc.waitForLine("listening");
  return { socket, proc, lines: () => proc.output("stdout").split("\n").filter((l) => l && l !== "listening") };
}

describe("startWatchdog()", () => {
  it("READY=1, then WATCHDOG=1 only while healthy, STOPPING=1 at stop", async () => {
    const l = await listener();
    let healthy = true;
    const warnings: string[] = [];
    const stop = startWatchdog({
      env: { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: "1000000", PATH: process.env.PATH },
      healthy: () => healthy,
      warn: (msg) => warnings.push(msg),
    });
    await waitUntil("two pings", () => l.lines().filter((x) => x.includes("WATCHDOG=1")).length >= 2, { timeoutMs: 5000 });
    expect(l.lines()[0]).toContain("READY=1");
    healthy = false;
    await Bun.sleep(200);
    const before = l.lines().filter((x) => x.includes("WATCHDOG=1")).length;
    await waitUntil("a withheld ping", () => warnings.length >= 2, { timeoutMs: 5000 });
    expect(l.lines().filter((x) => x.includes("WATCHDOG=1")).length).toBe(before);
    stop();
    await waitUntil("STOPPING=1", () => l.lines().some((x) => x.includes("STOPPING=1")), { timeoutMs: 5000 });
    await l.proc.stop();
  }, 30_000);

  test("does nothing outside systemd", () => {
    const stop = startWatchdog({ env: {}, healthy: () => { throw new Error("must not be asked"); }, warn: () => {} });
    stop();
  });

  it("the real vsb-proxy process says READY=1 once it answers /health", async () => {
    const l = await listener();
    const port = await freePort();
    const dir = tempDir("vsb-notify-proxy-");
    const proxy = spawnTracked(process.execPath, [join(ROOT, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", join(dir.path, "db"),
      "--amqp-url", "amqp://guest:guest@127.0.0.1:1"], { name: "proxy", env: { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: "2000000" } });
    await waitUntil("READY=1", () => l.lines().some((x) => x.includes("READY=1")), { timeoutMs: 15_000, proc: proxy });
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    await waitUntil("a watchdog ping", () => l.lines().some((x) => x.includes("WATCHDOG=1")), { timeoutMs: 5000 });
    await proxy.stop();
    await l.proc.stop();
  }, 60_000);
});
