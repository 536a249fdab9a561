import { describe, expect, test } from "bun:test";
import { Metrics } from "../../proxy/metrics.ts";

describe("Metrics", () => {
  test("renders counters, gauges and histograms in Prometheus text format", () => {
    const m = new Metrics();
    const frames = m.counter("vsb_frames_total", "Frames");
    frames.inc({ dataflow: 1 });
    frames.with({ dataflow: 1 }).inc(2);
    m.gauge("vsb_live", "Live", (s) => s.set(undefined, 4));
    const h = m.histogram("vsb_latency_seconds", "Latency", [0.01, 0.1]);
    h.observe({ lane: "a" }, 0.05);
    h.observe({ lane: "a" }, 1);
    const text = m.render();
    expect(text).toContain("# TYPE vsb_frames_total counter\nvsb_frames_total{dataflow=\"1\"} 3\n");
    expect(text).toContain("vsb_live 4\n");
    expect(text).toContain('vsb_latency_seconds_bucket{lane="a",le="0.01"} 0\n');
    expect(text).toContain('vsb_latency_seconds_bucket{lane="a",le="0.1"} 1\n');
    expect(text).toContain('vsb_latency_seconds_bucket{lane="a",le="+Inf"} 2\n');
    expect(text).toContain('vsb_latency_seconds_count{lane="a"} 2\n');
  });

  test("escapes label values and refuses negative counter increments and bad names", () => {
    const m = new Metrics();
    m.counter("x_total", "x").inc({ path: 'a"b\\c\nd' });
    expect(m.render()).toContain('x_total{path="a\\"b\\\\c\\nd"} 1');
    expect(() => m.counter("x_total", "x").inc(undefined, -1)).toThrow(/must not be negative/);
    expect(() => m.gauge("bad name", "x")).toThrow(/"bad name"/);
    expect(() => m.gauge("x_total", "x")).toThrow(/already registered as a counter/);
  });
});
