// One behaviour, two stores (#13): the same cases run against the embedded SQLite store and the
// PostgreSQL store (a real PostgreSQL 15 started by tests/support/postgres.ts, one fresh
// database per case). Then what only PostgreSQL is for: two pools ("replicas") registering at
// once never share an id or a UDP port, and migrations run once when both open together.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { PG_SCHEMA_VERSION } from "../../proxy/store/pg_schema.ts";
import { PgStore } from "../../proxy/store/pg_store.ts";
import { type DataflowStore, sqliteDataflowStore } from "../../proxy/store/store_api.ts";
import { type NewDataflow, PortsExhaustedError, Store } from "../../proxy/store/store.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitUntil } from "../support/wait.ts";

const PORTS = { first: 7000, last: 7002 };
const opened: DataflowStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => undefined);
});

let dbCount = 0;
async function freshPgUrl(): Promise<string> {
  const pg = await getPostgres();
  return pg.createDatabase(`c${process.pid}_${++dbCount}`);
}

const BACKENDS: { name: string; available: boolean; open(): Promise<DataflowStore> }[] = [
  {
    name: "sqlite",
    available: true,
    open: async () => sqliteDataflowStore(new Store(join(tempDir("vsb-contract-").path, "vsb.db"), PORTS)),
  },
  {
    name: "postgres",
    available: hasPostgres(),
    open: async () => await PgStore.open(await freshPgUrl(), PORTS, { max: 4 }),
  },
];

function flow(n: number, over: Partial<NewDataflow> = {}): NewDataflow {
  return {
    metadata: JSON.stringify({ n }), dataType: "video", dataSubType: n % 2 ? "cam" : "lidar", quadkey: `0313331232010333${n % 10}`,
    positionQuadkey: `12020${n % 10}`, now: 1_700_000_000_000 + n, tokenHash: `hash${n}`, controlKey: `key${n}`,
    keepaliveSeconds: 5, udpForward: false, owner: `token:s${n}`, ...over,
  };
}

for (const backend of BACKENDS) {
  const run = backend.available ? test : test.skip;
  if (!backend.available) console.log(`skipped: the ${backend.name} store cases need PostgreSQL (apt-get install postgresql)`);
  describe(`the ${backend.name} store`, () => {
    const open = async () => {
      const s = await backend.open();
      opened.push(s);
      return s;
    };

    run("a dataflow reads back as written, ids grow and are never reused", async () => {
      const s = await open();
      const a = await s.insertDataflow(flow(1));
      const b = await s.insertDataflow(flow(2));
      expect(b.id).toBeGreaterThan(a.id);
      const row = await s.getDataflow(a.id);
      expect(row).toMatchObject({
        id: a.id, metadata: '{"n":1}', data_type: "video", data_sub_type: "cam", quadkey: "03133312320103331",
        position_quadkey: "120201", token_hash: "hash1", keepalive_seconds: 5, registered_at: 1_700_000_000_001,
        last_seen_at: 1_700_000_000_001, last_media_at: null, active: 1, state: "registered", ended_at: null, end_reason: null,
        owner: "token:s1", control_key: "key1", port: null,
      });
      expect(await s.getDataflow(9999)).toBeUndefined();
      await s.endDataflow(b.id, "deleted", 5, 5);
      expect(await s.pruneEnded(10, 100)).toBe(1);
      const c = await s.insertDataflow(flow(3));
      expect(c.id).toBeGreaterThan(b.id); // the pruned newest id is not handed out again
      expect((await s.activeDataflows()).map((r) => r.id)).toEqual([a.id, c.id]);
    });

    run("endDataflow() is a claim: true once; an expiry (presentBefore) only while the stored presence is older", async () => {
      const s = await open();
      const a = await s.insertDataflow(flow(1, { udpForward: true }));
      const seen = 1_700_000_000_001;
      await s.touchMany([[a.id, seen + 10_000, null, "idle"]]); // another replica's keep-alive, flushed
      expect(await s.endDataflow(a.id, "expired", seen + 20_000, seen, null, seen + 5_000)).toBe(false);
      expect(await s.getDataflow(a.id)).toMatchObject({ active: 1, last_seen_at: seen + 10_000 });
      expect(await s.allocatedPorts()).toEqual([7000]);
      expect(await s.endDataflow(a.id, "expired", seen + 30_000, seen + 10_000, null, seen + 15_000)).toBe(true);
      expect(await s.endDataflow(a.id, "expired", seen + 30_000, seen + 10_000, null, seen + 15_000)).toBe(false);
      expect(await s.endDataflow(a.id, "deleted", seen + 30_000, seen + 10_000)).toBe(false); // already ended
      expect(await s.getDataflow(a.id)).toMatchObject({ active: 0, end_reason: "expired" });
      expect(await s.allocatedPorts()).toEqual([]);
    });

    run("UDP ports round robin, are released on end and by an update, and run out with PortsExhaustedError", async () => {
      const s = await open();
      const a = await s.insertDataflow(flow(1, { udpForward: true }));
      const b = await s.insertDataflow(flow(2, { udpForward: true }));
      expect([a.port, b.port]).toEqual([7000, 7001]);
      expect((await s.getDataflow(a.id))?.port).toBe(7000);
      await s.endDataflow(a.id, "expired", 10, 9);
      const c = await s.insertDataflow(flow(3, { udpForward: true }));
      expect(c.port).toBe(7002); // the port just released is reused last
      const d = await s.insertDataflow(flow(4, { udpForward: true }));
      expect(d.port).toBe(7000);
      expect(s.insertDataflow(flow(5, { udpForward: true }))).rejects.toBeInstanceOf(PortsExhaustedError);
      expect(await s.allocatedPorts()).toEqual([7000, 7001, 7002]);
      const update = { metadata: "{}", dataType: "video", dataSubType: "cam", quadkey: "0", positionQuadkey: "", now: 20 };
      expect(await s.updateDataflow(b.id, update, false)).toBeNull();
      expect(await s.allocatedPorts()).toEqual([7000, 7002]);
      expect(await s.updateDataflow(b.id, update, true)).toBe(7001);
      expect(await s.updateDataflow(b.id, update)).toBe(7001);
      expect(await s.getDataflow(b.id)).toMatchObject({ metadata: "{}", quadkey: "0", position_quadkey: "", last_seen_at: 20, port: 7001 });
    });

    run("touches reach active rows only; an end records time, reason and last times", async () => {
      const s = await open();
      const a = await s.insertDataflow(flow(1));
      const b = await s.insertDataflow(flow(2));
      await s.endDataflow(b.id, "deleted", 50, 40, 41);
      await s.touchMany([[a.id, 100, 99, "live"], [b.id, 100, 99, "live"]]);
      await s.touchMany([]);
      expect(await s.getDataflow(a.id)).toMatchObject({ last_seen_at: 100, last_media_at: 99, state: "live", active: 1 });
      expect(await s.getDataflow(b.id)).toMatchObject({ last_seen_at: 40, last_media_at: 41, state: "expired", active: 0, ended_at: 50, end_reason: "deleted" });
    });

    run("ended dataflows page newest first, filtered by type, by either quadkey prefix and below an id; pruning is bounded", async () => {
      const s = await open();
      const ids: number[] = [];
      for (let n = 0; n < 12; n++) ids.push((await s.insertDataflow(flow(n, { dataType: n < 6 ? "video" : "image" }))).id);
      for (const [i, id] of ids.entries()) await s.endDataflow(id, "expired", 1000 + i, 1000 + i);
      const page = await s.endedDataflows({ limit: 5 });
      expect(page.map((r) => r.id)).toEqual(ids.slice(-5).reverse());
      expect(page[0]!.port).toBeNull();
      const next = await s.endedDataflows({ limit: 5, beforeId: page.at(-1)!.id });
      expect(next.map((r) => r.id)).toEqual(ids.slice(2, 7).reverse());
      expect((await s.endedDataflows({ limit: 100, dataType: "image" })).length).toBe(6);
      expect((await s.endedDataflows({ limit: 100, quadkey: "03133312320103333" })).map((r) => r.id)).toEqual([ids[3]!]); // the sent key
      expect((await s.endedDataflows({ limit: 100, quadkey: "120207" })).map((r) => r.id)).toEqual([ids[7]!]); // the position key
      expect(await s.pruneEnded(1005, 3)).toBe(3);
      expect(await s.pruneEnded(1005, 100)).toBe(2);
      expect((await s.endedDataflows({ limit: 100 })).length).toBe(7);
    });

    run("demand leases insert, renew, delete, list in creation order", async () => {
      const s = await open();
      await s.insertDemand({ id: "b", dataflow_id: 7, quadkey: null, data_type: null, ttl_seconds: 30, created_at: 2, expires_at: 30_002, owner: "token:c" });
      await s.insertDemand({ id: "a", dataflow_id: null, quadkey: "0313", data_type: "video", ttl_seconds: 10, created_at: 1, expires_at: 10_001 });
      await s.renewDemand("b", 60, 60_002);
      expect(await s.allDemands()).toEqual([
        { id: "a", dataflow_id: null, quadkey: "0313", data_type: "video", ttl_seconds: 10, created_at: 1, expires_at: 10_001, owner: null },
        { id: "b", dataflow_id: 7, quadkey: null, data_type: null, ttl_seconds: 60, created_at: 2, expires_at: 60_002, owner: "token:c" },
      ]);
      await s.deleteDemand("a");
      expect((await s.allDemands()).map((d) => d.id)).toEqual(["b"]);
      expect(await s.ping()).toBe(true);
      await s.probe(123);
    });
  });
}

const pgOnly = hasPostgres() ? test : test.skip;

describe("PostgreSQL shared by replicas", () => {
  pgOnly("two pools registering at once: unique ids, no port given twice, each port held by its dataflow", async () => {
    const url = await freshPgUrl();
    const ports = { first: 9000, last: 9099 };
    const [a, b] = await Promise.all([PgStore.open(url, ports, { max: 4 }), PgStore.open(url, ports, { max: 4 })]);
    opened.push(a, b);
    const results = await Promise.all(Array.from({ length: 80 }, (_, i) => (i % 2 ? a : b).insertDataflow(flow(i, { udpForward: true }))));
    expect(new Set(results.map((r) => r.id)).size).toBe(80);
    expect(new Set(results.map((r) => r.port)).size).toBe(80);
    for (const r of results) expect((await a.getDataflow(r.id))?.port).toBe(r.port);
    // Migrated exactly once although both opened together.
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    const rows = await sql`SELECT version FROM vsb_migrations ORDER BY version`;
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
    // A database of a newer schema than this proxy knows is refused with its version.
    await sql`INSERT INTO vsb_migrations (version) VALUES (99)`;
    await sql.end();
    expect(PgStore.open(url, ports)).rejects.toThrow(`the database has schema version "99", this proxy knows up to ${PG_SCHEMA_VERSION}`);
  }, 60_000);

  pgOnly("PostgreSQL restarted: writes reject meanwhile (nothing half-done), the same pool recovers by itself", async () => {
    const pg = await getPostgres();
    const s = await PgStore.open(await freshPgUrl(), PORTS, { max: 2, connectTimeoutSeconds: 2 });
    opened.push(s);
    const before = await s.insertDataflow(flow(1));
    await pg.stop();
    expect(await s.ping()).toBe(false);
    expect(s.insertDataflow(flow(2))).rejects.toThrow();
    await pg.start();
    await waitUntil("the pool reconnected", () => s.ping(), { timeoutMs: 20_000 });
    const after = await s.insertDataflow(flow(3));
    expect(after.id).toBeGreaterThan(before.id);
    expect((await s.activeDataflows()).map((r) => r.id)).toEqual([before.id, after.id]);
  }, 60_000);
});
