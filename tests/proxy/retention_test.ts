// Ended dataflows: a page of GET /dataflows?active=false is one indexed SQL query whatever the
// number of ended rows (200k here), and rows past --ended-retention are deleted in SQL.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataflowMetadataSchema } from "../../shared/mod.ts";
import { configureLog } from "../../proxy/log.ts";
import { Registry } from "../../proxy/registry/registry.ts";
import { sqliteDataflowStore } from "../../proxy/store/store_api.ts";
import { Store } from "../../proxy/store/store.ts";
import { FakeClock } from "./fake_clock.ts";
import { sensor2022 } from "./sensor_body.ts";

configureLog({ level: "silent" });

const ROWS = 200_000;
let dir: string;
let db: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vsb-retention-"));
  db = join(dir, "p.db");
  new Store(db, { first: 5000, last: 5999 }).close(); // creates the current schema
  const raw = new Database(db);
  const metadata = JSON.stringify(DataflowMetadataSchema.parse(sensor2022()));
  const insert = raw.prepare(`INSERT INTO dataflows (metadata, data_type, data_sub_type, quadkey, position_quadkey,
    token_hash, keepalive_seconds, registered_at, last_seen_at, active, state, ended_at, end_reason)
    VALUES (?, ?, 'h264', '031333123201033303', '', 'ab', 5, ?, ?, 0, 'expired', ?, 'ended')`);
  raw.transaction(() => {
    // Row i ended at i seconds after 0: the first 100k are older than the second 100k.
    for (let i = 1; i <= ROWS; i++) insert.run(metadata, i % 2 ? "video" : "cam", i * 1000, i * 1000, i * 1000);
  })();
  raw.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function median(run: () => void, times = 9): number {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    run();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(times / 2)]!;
}

describe("ended dataflows", () => {
  test("a page of 200k ended rows is one indexed query: < 10 ms median, newest first, paged with before", async () => {
    const store = new Store(db, { first: 5000, last: 5999 });
    try {
      const page = store.endedDataflows({ limit: 100 });
      expect(page.map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => ROWS - i));
      const next = store.endedDataflows({ limit: 100, beforeId: page.at(-1)!.id });
      expect(next[0]!.id).toBe(ROWS - 100);
      const cams = store.endedDataflows({ limit: 100, dataType: "cam", beforeId: 1001 });
      expect(cams.every((r) => r.data_type === "cam" && r.id < 1001)).toBe(true);
      expect(cams).toHaveLength(100);
      const times = {
        first: median(() => store.endedDataflows({ limit: 100 })),
        deep: median(() => store.endedDataflows({ limit: 100, beforeId: 1001 })),
        filtered: median(() => store.endedDataflows({ limit: 100, dataType: "cam", quadkey: "0313" })),
      };
      console.log(`ended page of 100 over ${ROWS} rows, median ms: ${JSON.stringify(times)}`);
      for (const ms of Object.values(times)) expect(ms).toBeLessThan(10);
    } finally {
      store.close();
    }
  }, 60_000);

  test("the registry lists ended rows in pages and prunes those past the retention in SQL", async () => {
    const store = new Store(db, { first: 5000, last: 5999 });
    const clock = new FakeClock(ROWS * 1000 + 1000);
    const registry = await Registry.open({
      store: sqliteDataflowStore(store), clock, sendPolicy: "demand", keepaliveSeconds: 5, publicUrl: "http://mec.test:8080",
      udpForwardHost: "127.0.0.1", udpForward: "off", endedRetentionMs: (ROWS / 2) * 1000,
    });
    try {
      const page = await registry.list({ active: false, limit: 50 });
      expect(page.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => ROWS - 49 + i));
      // Pruned in bounded batches (the sweep may already have run one): call until none is left.
      while (await registry.prune() > 0);
      const raw = new Database(db, { readonly: true });
      const left = raw.query("SELECT COUNT(*) AS n, MIN(ended_at) AS oldest FROM dataflows").get() as { n: number; oldest: number };
      raw.close();
      const cutoff = clock.now() - (ROWS / 2) * 1000;
      expect(left.oldest).toBeGreaterThanOrEqual(cutoff);
      expect(left.n).toBe(ROWS / 2); // ended at or after the cutoff: kept
      expect(registry.pruned).toBe(ROWS / 2);
    } finally {
      await registry.stop();
      store.close();
    }
  }, 60_000);
});
