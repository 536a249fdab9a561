import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataflowMetadataSchema, DemandRequestSchema } from "../../shared/mod.ts";
import { FakeClock } from "./fake_clock.ts";
import { SCHEMA_VERSION } from "../../proxy/store/schema.ts";
import { harness } from "./harness.ts";
import { sensor2022 } from "./sensor_body.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "vsb-store-"));
  dirs.push(dir);
  return join(dir, "proxy.db");
}

describe("Store across a restart", () => {
  test("keeps dataflows, tokens, ports, demands and the id sequence", async () => {
    const db = tempDb();
    const clock = new FakeClock();
    const first = await harness({ db, clock, udpForward: "all" });
    const a = await first.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    const b = await first.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    const lease = await first.registry.createDemand(DemandRequestSchema.parse({ dataflowId: a.id, ttlSeconds: 600 }));
    await first.registry.remove(b.id); // the newest id is gone: AUTOINCREMENT must still not reuse it
    first.registry.setMediaState(a.id, "live");
    await first.registry.stop();
    first.store.close();

    await clock.advance(60_000); // down for a minute: longer than 3 keep-alive periods
    const second = await harness({ db, clock, udpForward: "all" });
    const record = await second.registry.get(a.id);
    expect(record).toMatchObject({ id: a.id, active: true, send: true, udpForward: { host: "127.0.0.1", port: 5000 } });
    expect(record.state).toBe("idle"); // no WHIP session survives a restart
    expect(second.events.send).toEqual([{ id: a.id, send: true }]); // re-announced at start
    expect(await second.registry.checkIngestToken(a.id, a.ingest.token)).toBe("ok");
    expect(second.registry.listDemands().map((d) => d.id)).toEqual([lease.id]);
    expect((await second.registry.get(b.id)).active).toBe(false);
    // A fresh keep-alive window after the restart: the outage was not the sensor's fault.
    expect((await second.registry.keepalive(a.id)).send).toBe(true);
    const c = await second.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    expect(c.id).toBe(3);
    expect(c.ingest.whipUrl).toEndWith("/whip/3");
    expect(second.store.allocatedPorts()).toEqual([5000, 5002]);
    await second.registry.stop();
    second.store.close();
  });

  test("a zoom-25 quadkey lease and filter keep matching a zoom-18 registration after a restart", async () => {
    // Rows hold the sent locationQuadkey, as before the position key existed; it is computed on load.
    const db = tempDb();
    const clock = new FakeClock();
    const first = await harness({ db, clock, udpForward: "all" });
    const a = await first.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    const b = await first.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    await first.registry.remove(b.id);
    await first.registry.createDemand(DemandRequestSchema.parse({ quadkey: "0313331232010333031221303", ttlSeconds: 600 }));
    expect(first.store.getDataflow(a.id)!.quadkey).toBe("031333123201033303");
    await first.registry.stop();
    first.store.close();

    const second = await harness({ db, clock });
    expect(second.events.send).toEqual([{ id: a.id, send: true }]);
    expect((await second.registry.keepalive(a.id)).send).toBe(true);
    expect((await second.registry.list({ quadkey: "0313331232010333031221" })).map((r) => [r.id, r.active])).toEqual([[a.id, true], [b.id, false]]);
    await second.registry.stop();
    second.store.close();
  });

  test("last-seen times are flushed in batches and survive a restart", async () => {
    const db = tempDb();
    const clock = new FakeClock();
    const first = await harness({ db, clock, keepaliveSeconds: 10 });
    const { id } = await first.registry.register(DataflowMetadataSchema.parse(sensor2022()));
    await clock.advance(5_000);
    await first.registry.keepalive(id);
    const seen = clock.now();
    await clock.advance(1_000); // the flush timer writes it
    const row = first.store.getDataflow(id)!;
    expect(row.last_seen_at).toBe(seen);
    await first.registry.stop();
    first.store.close();
  });

  test("opens in WAL mode", async () => {
    const db = tempDb();
    const { store } = await harness({ db });
    store.close();
    const { Database } = require("bun:sqlite");
    const raw = new Database(db);
    expect(raw.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    raw.close();
  });
});

describe("Store schema versions", () => {
  test("a version-1 database (no last_media_at) is migrated at open and keeps its rows", async () => {
    const db = tempDb();
    const { Database } = require("bun:sqlite");
    const v1 = new Database(db);
    v1.run(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    v1.run(`CREATE TABLE dataflows (id INTEGER PRIMARY KEY AUTOINCREMENT, metadata TEXT NOT NULL, data_type TEXT NOT NULL,
      data_sub_type TEXT NOT NULL, quadkey TEXT NOT NULL, token_hash TEXT NOT NULL, keepalive_seconds REAL NOT NULL,
      registered_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1,
      state TEXT NOT NULL DEFAULT 'registered', ended_at INTEGER, end_reason TEXT)`);
    v1.run(`CREATE TABLE demands (id TEXT PRIMARY KEY, dataflow_id INTEGER, quadkey TEXT, data_type TEXT,
      ttl_seconds INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`);
    v1.run("INSERT INTO meta VALUES ('schema_version', '1')");
    v1.run(`INSERT INTO dataflows (metadata, data_type, data_sub_type, quadkey, token_hash, keepalive_seconds, registered_at,
      last_seen_at) VALUES (?, 'video', 'h264', '031333123201033303', 'ab', 5, 1000, 2000)`, [JSON.stringify(DataflowMetadataSchema.parse(sensor2022()))]);
    v1.close();
    const { store, registry } = await harness({ db });
    expect(store.getDataflow(1)).toMatchObject({ id: 1, last_seen_at: expect.any(Number), last_media_at: null, owner: null });
    // Its position key was computed at open (schema 5), so quadkey filters on it run in SQL.
    expect(store.getDataflow(1)!.position_quadkey).toMatch(/^[0-3]{25}$/);
    expect(store.getDataflow(1)!.control_key).toBeNull(); // registered before control keys: its control stays unsigned
    registry.mediaSeen(1, 5_000_000);
    await registry.flush();
    expect(store.getDataflow(1)!.last_media_at).toBe(5_000_000);
    await registry.stop();
    store.close();
    const raw = new Database(db);
    expect(raw.query("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: String(SCHEMA_VERSION) });
    raw.close();
  });

  test("a database of a newer version than this proxy knows is refused with its version", async () => {
    const db = tempDb();
    const { store } = await harness({ db });
    store.close();
    const { Database } = require("bun:sqlite");
    const raw = new Database(db);
    raw.run("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    raw.close();
    await expect(harness({ db })).rejects.toThrow(new RegExp(`schema version "99", expected ${SCHEMA_VERSION}`));
  });
});
