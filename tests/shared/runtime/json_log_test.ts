// The logger core both programs share: level filtering, one masked JSON line per event.
import { describe, expect, test } from "bun:test";
import { jsonLogLine, levelEnabled } from "../../../shared/runtime/json_log.ts";

const now = () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5));

describe("levelEnabled()", () => {
  test("writes the threshold and above; silent writes nothing", () => {
    expect(levelEnabled("info", "info")).toBe(true);
    expect(levelEnabled("error", "warn")).toBe(true);
    expect(levelEnabled("debug", "info")).toBe(false);
    expect(levelEnabled("error", "silent")).toBe(false);
    expect(levelEnabled("silent", "debug")).toBe(false);
  });
});

describe("jsonLogLine()", () => {
  test("one JSON object on one line: time, level, msg, then the fields in order", () => {
    const line = jsonLogLine("warn", "bus lost", { component: "bus", note: "a\nb" }, { now });
    expect(line).not.toContain("\n");
    expect(line).toBe('{"time":"2026-01-02T03:04:05.000Z","level":"warn","msg":"bus lost","component":"bus","note":"a\\nb"}');
  });

  test("masks URL passwords anywhere in the line, error text included", () => {
    const line = jsonLogLine("error", "connect failed", { url: "amqp://vsb:s3cret@mq:5671/", error: new Error("no route to rtsp://cam:pw@10.0.0.9/") });
    expect(line).not.toContain("s3cret");
    expect(line).not.toContain(":pw@");
    expect(JSON.parse(line).url).toContain("vsb");
  });

  test("logs an Error field through options.error, its message by default", () => {
    const error = new Error("outer", { cause: new Error("inner") });
    expect(JSON.parse(jsonLogLine("info", "x", { error })).error).toBe("outer");
    expect(JSON.parse(jsonLogLine("info", "x", { error }, { error: (e) => ({ name: e.name }) })).error).toEqual({ name: "Error" });
  });

  test("keeps the event when a field cannot be serialised", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const record = JSON.parse(jsonLogLine("warn", "odd field", { cycle, big: 1n }, { now }));
    expect(record).toMatchObject({ level: "warn", msg: "odd field", time: "2026-01-02T03:04:05.000Z" });
    expect(record.logError).toBeString();
  });
});

describe("the two wrappers on the shared core", () => {
  test("agent createLogger(): bound fields, errors as text with their causes, no newline", async () => {
    const { createLogger, setLogLevel } = await import("../../../agent/log.ts");
    const lines: string[] = [];
    setLogLevel("info");
    const log = createLogger({ component: "flow" }, (line) => lines.push(line)).child({ flow: "f1" });
    log.debug("hidden");
    log.warn("gst exited", { error: new Error("outer", { cause: new Error("inner") }) });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", msg: "gst exited", component: "flow", flow: "f1", error: "outer: inner" });
  });

  test("proxy logger(): component first, errors as {name, message, cause}, one line with its newline", async () => {
    const { configureLog, logger } = await import("../../../proxy/log.ts");
    const lines: string[] = [];
    configureLog({ level: "info", sink: (line) => lines.push(line) });
    try {
      logger("bus").debug("hidden");
      logger("bus").error("bus lost", { error: new Error("outer", { cause: new Error("inner") }) });
      configureLog({ level: "silent" });
      logger("bus").error("not written");
    } finally {
      configureLog({ level: "info", sink: (line) => process.stderr.write(line) });
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("}\n")).toBe(true);
    const record = JSON.parse(lines[0]!);
    expect(Object.keys(record)).toEqual(["time", "level", "msg", "component", "error"]);
    expect(record.error).toEqual({ name: "Error", message: "outer", cause: { name: "Error", message: "inner" } });
  });
});
