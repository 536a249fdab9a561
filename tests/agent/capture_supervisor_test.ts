// CaptureSupervisor on a fake gst child and a fake clock: what each kind of exit leads to.
import { describe, expect, test } from "bun:test";
import { CaptureSupervisor, type CaptureSupervisorOptions } from "../../agent/capture/capture_supervisor.ts";
import { parseSourceSpec, sourceEnds } from "../../agent/capture/source_spec.ts";
import { createLogger } from "../../agent/log.ts";
import { FakeClock } from "./fake_clock.ts";
import { fakeSpawn } from "./fake_gst.ts";

function supervised(options: Partial<CaptureSupervisorOptions> = {}) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const gst = fakeSpawn();
  const packets: Uint8Array[] = [];
  const supervisor = new CaptureSupervisor({
    command: "gst-launch-1.0",
    argv: [],
    log: createLogger({}, (line) => lines.push(line)),
    createReader: (onPacket) => ({ push: (chunk) => onPacket(chunk) }),
    onPacket: (packet) => packets.push(packet),
    clock,
    spawn: gst.spawn,
    ...options,
  });
  const messages = () => lines.map((l) => JSON.parse(l)).map((l) => l.msg as string);
  return { clock, gst, supervisor, packets, messages, lines };
}

describe("CaptureSupervisor", () => {
  test("endOnCleanExit(): a clean exit ends the capture, calls onEnded once, logs \"source ended\", starts no child", async () => {
    const h = supervised();
    let ended = 0;
    h.supervisor.endOnCleanExit(() => ended++);
    h.supervisor.start();
    h.gst.children[0]!.exit(0);
    await h.clock.advance(60_000);
    expect(ended).toBe(1);
    expect(h.gst.children.length).toBe(1);
    expect(h.supervisor.restarts).toBe(0);
    expect(h.messages().filter((m) => m === "source ended").length).toBe(1);
    expect(h.messages()).not.toContain("gst exited");
    await h.supervisor.stop(); // the flow still stops it: nothing left to do
  });

  test("endOnCleanExit(): a failed exit is still restarted with backoff", async () => {
    const h = supervised();
    let ended = 0;
    h.supervisor.endOnCleanExit(() => ended++);
    h.supervisor.start();
    h.gst.children[0]!.exit(1);
    await h.clock.advance(100);
    expect(h.gst.children.length).toBe(1); // backoff starts at ~250 ms
    await h.clock.advance(1000);
    expect(h.gst.children.length).toBe(2);
    expect(ended).toBe(0);
    await h.supervisor.stop();
  });

  test("a clean exit of a live source is restarted with backoff, not at once", async () => {
    const h = supervised();
    h.supervisor.start();
    h.gst.children[0]!.exit(0);
    await h.clock.advance(0);
    expect(h.gst.children.length).toBe(1);
    await h.clock.advance(1000);
    expect(h.gst.children.length).toBe(2);
    expect(h.supervisor.restarts).toBe(1);
    await h.supervisor.stop();
  });

  test("loop: a clean exit starts the file again at once", async () => {
    const h = supervised({ loop: true });
    h.supervisor.start();
    h.gst.children[0]!.exit(0);
    await h.clock.advance(0);
    expect(h.gst.children.length).toBe(2);
    expect(h.lines.some((l) => l.includes('"restartInMs":0'))).toBe(true);
    await h.supervisor.stop();
  });

  test("a child silent for stallMs is killed and restarted", async () => {
    const h = supervised({ stallMs: 2000 });
    h.supervisor.start();
    h.gst.children[0]!.write(Uint8Array.of(1));
    await h.clock.advance(1500);
    expect(h.gst.children[0]!.signals).toEqual([]);
    await h.clock.advance(1000);
    expect(h.gst.children[0]!.signals).toEqual(["SIGKILL"]);
    await h.clock.advance(1000);
    expect(h.gst.children.length).toBe(2);
    expect(h.messages()).toContain("gst stalled");
    await h.supervisor.stop();
  });

  test("stop() sends EOS (SIGINT), then SIGTERM after the grace time, and starts nothing after", async () => {
    const h = supervised({ graceMs: 2000 });
    h.supervisor.start();
    const child = h.gst.children[0]!;
    child.ignores.add("SIGINT");
    let stopped = false;
    void h.supervisor.stop().then(() => (stopped = true));
    await h.clock.advance(1900);
    expect([child.signals, stopped]).toEqual([["SIGINT"], false]);
    await h.clock.advance(200);
    expect([child.signals, stopped]).toEqual([["SIGINT", "SIGTERM"], true]);
    await h.clock.advance(10_000);
    expect(h.gst.children.length).toBe(1);
  });
});

describe("sourceEnds()", () => {
  test("only a file played without --loop can end", () => {
    expect(sourceEnds(parseSourceSpec("file:/v/a.mp4"), false)).toBe(true);
    expect(sourceEnds(parseSourceSpec("file:/v/a.mp4"), true)).toBe(false);
    for (const live of ["test", "v4l2:/dev/video0", "udp:5600", "rtsp://cam/s"]) {
      expect(sourceEnds(parseSourceSpec(live), false)).toBe(false);
    }
  });
});
