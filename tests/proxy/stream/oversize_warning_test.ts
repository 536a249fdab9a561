// OversizeWarning: one warn line per stream per minute at most, carrying the units dropped
// since the previous line; other drop reasons say nothing.
import { expect, test } from "bun:test";
import type { LogFields, Logger } from "../../../proxy/log.ts";
import { OVERSIZE_WARN_INTERVAL_MS, OversizeWarning } from "../../../proxy/stream/oversize_warning.ts";

test("OversizeWarning.note() warns at most once a minute, with the count since the last line", () => {
  const lines: LogFields[] = [];
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (msg, fields) => void lines.push({ msg, ...fields }) };
  const w = new OversizeWarning(log, 5, 100_000);
  const oversize = [{ reason: "oversize" as const, rtpTimestamp: 1, seq: 1 }];
  w.note([{ reason: "packet-lost", rtpTimestamp: 0, seq: 0 }], 0, "s");
  expect(lines).toEqual([]);
  w.note(oversize, 1000, "s");
  w.note(oversize, 2000, "s");
  w.note(oversize, 1000 + OVERSIZE_WARN_INTERVAL_MS - 1, "s");
  expect(lines).toEqual([{ msg: "access units dropped over --max-access-unit-bytes", dataflowId: 5, sessionId: "s", maxAccessUnitBytes: 100_000, dropped: 1 }]);
  w.note(oversize, 1000 + OVERSIZE_WARN_INTERVAL_MS, "t");
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatchObject({ sessionId: "t", dropped: 3 });
  expect(OVERSIZE_WARN_INTERVAL_MS).toBe(60_000);
});
