// assemblerOptionsOf(): --max-access-unit-bytes and --max-nack-burst reach every session's
// FrameAssembler (through MediaStreams), and a test's own assembler options still win.
import { expect, test } from "bun:test";
import { assemblerOptionsOf } from "../../proxy/media_routes.ts";

test("assemblerOptionsOf() takes both bounds from the config, under the caller's overrides", () => {
  expect(assemblerOptionsOf({ maxAccessUnitBytes: 65_536, maxNackBurst: 8 })).toEqual({ maxAccessUnitBytes: 65_536, jitter: { maxNackBurst: 8 } });
  expect(assemblerOptionsOf({ maxAccessUnitBytes: 65_536, maxNackBurst: 8 }, { pliIntervalMs: 10, jitter: { lossWaitMs: 50 } }))
    .toEqual({ maxAccessUnitBytes: 65_536, pliIntervalMs: 10, jitter: { maxNackBurst: 8, lossWaitMs: 50 } });
  expect(assemblerOptionsOf({ maxNackBurst: 8 }, { maxAccessUnitBytes: 1, jitter: { maxNackBurst: 2 } }))
    .toEqual({ maxAccessUnitBytes: 1, jitter: { maxNackBurst: 2 } });
});
