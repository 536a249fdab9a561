import { expect, test } from "bun:test";
import { createServer } from "node:http";
import { freePort } from "./ports.ts";
import { groupMembers, isAlive, spawnTracked, stopPid, trackedProcs, waitForHttp, waitForPort } from "./procs.ts";

test("spawnTracked() keeps output lines and waitForLine() sees past and future lines", async () => {
  const proc = spawnTracked("sh", ["-c", "echo first; echo oops >&2; sleep 0.3; echo ready 42; exec sleep 30"]);
  expect(await proc.waitForLine("first")).toBe("first");
  expect(await proc.waitForLine(/^ready (\d+)$/, { stream: "stdout" })).toBe("ready 42");
  expect(await proc.waitForLine("oops", { stream: "stderr" })).toBe("oops");
  expect(proc.output()).toContain("first\n");
  expect(trackedProcs()).toContain(proc);
  const status = await proc.stop();
  expect(status.signal).toBe("SIGINT");
  expect(trackedProcs()).not.toContain(proc);
});

test("waitForLine() rejects when the process exits without printing the line", async () => {
  const proc = spawnTracked("sh", ["-c", "echo nothing useful; exit 3"]);
  await expect(proc.waitForLine("never", { timeoutMs: 5000 })).rejects.toThrow(/exited \(3\)/);
  expect((await proc.exited).code).toBe(3);
});

test("waitForLine() rejects after its timeout", async () => {
  const proc = spawnTracked("sleep", ["30"]);
  await expect(proc.waitForLine("x", { timeoutMs: 100 })).rejects.toThrow(/within 100 ms/);
  await proc.stop();
});

test("stop() escalates INT → TERM → KILL and also stops the process group", async () => {
  // The shell ignores INT and TERM; its background child is in the same process group.
  const proc = spawnTracked("sh", ["-c", "trap '' INT TERM; sleep 60 & echo child $!; wait"]);
  const childPid = Number((await proc.waitForLine(/^child \d+$/)).split(" ")[1]);
  expect(groupMembers(proc.pid)).toContain(childPid);
  const started = Date.now();
  const status = await proc.stop({ graceMs: 300 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  expect(status.signal).toBe("SIGKILL");
  expect(isAlive(childPid)).toBe(false);
  expect(groupMembers(proc.pid)).toEqual([]);
});

test("stopPid() stops a process by pid", async () => {
  const proc = spawnTracked("sleep", ["60"]);
  await stopPid(proc.pid, { signals: ["SIGTERM"] });
  expect(isAlive(proc.pid)).toBe(false);
  expect((await proc.exited).signal).toBe("SIGTERM");
});

test("spawnTracked() throws at once for a missing command", () => {
  expect(() => spawnTracked("/nonexistent/vsb-no-such-command", [])).toThrow(/could not start/);
});

test("waitForPort() and waitForHttp() wait for a server that comes up late", async () => {
  const port = await freePort();
  const server = createServer((req, res) => res.writeHead(req.url === "/health" ? 200 : 404).end("ok"));
  setTimeout(() => server.listen(port, "127.0.0.1"), 300);
  try {
    await waitForPort(port, { timeoutMs: 5000 });
    const response = await waitForHttp(`http://127.0.0.1:${port}/health`, { timeoutMs: 5000 });
    expect(await response.text()).toBe("ok");
    await expect(waitForHttp(`http://127.0.0.1:${port}/nope`, { timeoutMs: 300 })).rejects.toThrow(/timed out/);
  } finally {
    server.close();
  }
});

test("waitForPort() fails fast when the process that should listen exits", async () => {
  const port = await freePort();
  const proc = spawnTracked("sh", ["-c", "echo crashed; exit 1"]);
  await expect(waitForPort(port, { proc, timeoutMs: 10_000 })).rejects.toThrow(/sh exited \(1\)/);
});
