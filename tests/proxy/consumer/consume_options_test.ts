import { describe, expect, test } from "bun:test";
import { consumeHelp, CONSUME_OPTIONS, parseConsumeOptions } from "../../../proxy/consumer/consume_options.ts";
import { FrameStats } from "../../../proxy/consumer/frame_stats.ts";

describe("parseConsumeOptions()", () => {
  test("flags beat env, env beats defaults", () => {
    const o = parseConsumeOptions(["--dataflow", "7"], { VSB_API_URL: "http://10.0.0.1:9000", VSB_DATAFLOW: "3" })!;
    expect(o.dataflow).toBe(7);
    expect(o.apiUrl).toBe("http://10.0.0.1:9000");
    expect(o.amqpUrl).toEqual(["amqp://guest:guest@127.0.0.1:5672"]);
    expect(o.leaseSeconds).toBe(10);
    expect(o.noDemand).toBe(false);
  });

  test("a bad value is one line naming the flag and the value", () => {
    expect(() => parseConsumeOptions(["--dataflow", "x"], {})).toThrow('--dataflow "x": must be a whole number above 0');
    expect(() => parseConsumeOptions(["--quadkey", "0129"], {})).toThrow('--quadkey "0129"');
    expect(() => parseConsumeOptions(["--dataflow", "1", "--amqp-url", "http://x"], {})).toThrow("--amqp-url");
    expect(() => parseConsumeOptions([], {})).toThrow("exactly one of --dataflow ID or --quadkey PREFIX");
    expect(() => parseConsumeOptions(["--dataflow", "1", "--quadkey", "0"], {})).toThrow("exactly one");
    expect(() => parseConsumeOptions(["--nope"], {})).toThrow("--nope");
  });

  test("--help lists every option it parses", () => {
    expect(parseConsumeOptions(["--help"], {})).toBeNull();
    const help = consumeHelp();
    for (const o of CONSUME_OPTIONS) expect(help).toContain(`--${o.flag}`);
  });
});

describe("FrameStats", () => {
  test("counts missing seq numbers per dataflow and resets each period", () => {
    const s = new FrameStats();
    const frame = (dataflowId: number, seq: number) => ({ dataflowId, seq, bytes: 1000, keyframe: seq === 0, latencyMs: seq });
    expect(s.add(frame(1, 0))).toBe(0);
    expect(s.add(frame(2, 0))).toBe(0);
    expect(s.add(frame(1, 1))).toBe(0);
    expect(s.add(frame(1, 4))).toBe(2);
    expect(s.add(frame(2, 1))).toBe(0);
    const line = s.take(1000);
    expect(line).toMatchObject({ frames: 5, keyframes: 2, gaps: 2, dataflows: 2, kbps: 40, latencyMsMax: 4, latencyMsP50: 1 });
    expect(s.take(1000)).toMatchObject({ frames: 0, gaps: 0, totalFrames: 5, totalGaps: 2 });
  });

  test("a restarted numbering is not a gap", () => {
    const s = new FrameStats();
    s.add({ dataflowId: 1, seq: 50, bytes: 1, keyframe: true, latencyMs: 1 });
    expect(s.add({ dataflowId: 1, seq: 0, bytes: 1, keyframe: true, latencyMs: 1 })).toBe(0);
  });
});
