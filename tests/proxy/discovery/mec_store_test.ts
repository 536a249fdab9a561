// One behaviour, two stores: the discovery tables on the embedded SQLite store (schema v6) and
// on PostgreSQL (migration 2, a real PostgreSQL 15 from tests/support/postgres.ts, a fresh
// database per case), through the MecStore interface the discovery routes use.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { pgMecStore } from "../../../proxy/discovery/pg_mec_store.ts";
import type { MecStore, MecUpsert } from "../../../proxy/discovery/mec_store.ts";
import { sqliteMecStore } from "../../../proxy/discovery/sqlite_mec_store.ts";
import { PgStore } from "../../../proxy/store/pg_store.ts";
import { Store } from "../../../proxy/store/store.ts";
import { getPostgres, hasPostgres } from "../../support/postgres.ts";
import { tempDir } from "../../support/temp_dir.ts";

const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

let dbCount = 0;
const BACKENDS: { name: string; available: boolean; open(): Promise<MecStore> }[] = [
  {
    name: "sqlite",
    available: true,
    open: async () => {
      const store = new Store(join(tempDir("vsb-mecs-").path, "vsb.db"), { first: 7000, last: 7001 });
      closers.push(() => store.close());
      return sqliteMecStore(store.database);
    },
  },
  {
    name: "postgres",
    available: hasPostgres(),
    open: async () => {
      const pg = await getPostgres();
      const store = await PgStore.open(pg.createDatabase(`m${process.pid}_${++dbCount}`), { first: 7000, last: 7001 }, { max: 2 });
      closers.push(() => store.close());
      return pgMecStore(store.sql);
    },
  },
];

const mec = (name: string, tiles?: string[], now = 1_700_000_000_000): MecUpsert => ({
  name, info: { organization: "vsb", resources: { cpu: "4" } }, services: [{ service_name: "registration-api", ip: "10.0.0.1", port: "8080" }],
  tiles, owner: "token:op", now, expiresAt: null,
});

for (const backend of BACKENDS) {
  const run = backend.available ? test : test.skip;
  if (!backend.available) console.log(`skipped: the ${backend.name} MEC store cases need PostgreSQL (apt-get install postgresql)`);
  describe(`the ${backend.name} MEC store`, () => {
    run("upsertMec() creates by name, then updates the same id; given tiles replace the list, absent tiles stay", async () => {
      const s = await backend.open();
      expect(await s.upsertMec(mec("a", ["0313", "0320", "0313"]))).toEqual({ id: 1, created: true });
      expect(await s.upsertMec(mec("b", ["1"]))).toEqual({ id: 2, created: true });
      expect(await s.upsertMec({ ...mec("a", ["0321"], 1_700_000_000_500), info: { organization: "new" } })).toEqual({ id: 1, created: false });
      expect(await s.upsertMec(mec("a"))).toEqual({ id: 1, created: false });
      const [a, b] = await s.mecs();
      expect(a).toMatchObject({ id: 1, name: "a", tiles: ["0321"], registeredAt: 1_700_000_000_000, owner: "token:op" });
      expect(a!.services).toEqual([{ service_name: "registration-api", ip: "10.0.0.1", port: "8080" }]);
      expect(b).toMatchObject({ id: 2, name: "b", tiles: ["1"], info: { organization: "vsb", resources: { cpu: "4" } } });
      expect((await s.mecs([2, 9])).map((m) => m.name)).toEqual(["b"]);
      expect(a!.expiresAt).toBeNull();
      await s.upsertMec({ ...mec("b"), expiresAt: 1_700_000_030_000 });
      expect((await s.mecs([2]))[0]!.expiresAt).toBe(1_700_000_030_000);
      await s.upsertMec(mec("b"));
      expect((await s.mecs([2]))[0]!.expiresAt).toBeNull();
      expect(await s.mecs([])).toEqual([]);
    });

    run("tileMatches() finds tiles that are a prefix of the key and tiles the key is a prefix of, nothing else", async () => {
      const s = await backend.open();
      await s.upsertMec(mec("a", ["0313", "0320"]));
      await s.upsertMec(mec("b", ["031312", "2"]));
      const sorted = async (q: string) => (await s.tileMatches(q)).map((r) => `${r.mecId}:${r.tile}`).sort();
      expect(await sorted("0313120")).toEqual(["1:0313", "2:031312"]);
      expect(await sorted("031")).toEqual(["1:0313", "2:031312"]);
      expect(await sorted("0320")).toEqual(["1:0320"]);
      expect(await sorted("03")).toEqual(["1:0313", "1:0320", "2:031312"]);
      expect(await sorted("1")).toEqual([]);
      expect(await sorted("0312")).toEqual([]);
    });

    run("addTile()/deleteTile() say what happened; deleteMec() takes its tiles with it and ids are never reused", async () => {
      const s = await backend.open();
      const { id } = await s.upsertMec(mec("a", ["0313"]));
      expect(await s.addTile(id, "0320")).toBe("added");
      expect(await s.addTile(id, "0320")).toBe("present");
      expect(await s.addTile(99, "0320")).toBe("no-mec");
      expect((await s.mecs([id]))[0]!.tiles).toEqual(["0313", "0320"]);
      expect(await s.deleteTile(id, "0320")).toBe("deleted");
      expect(await s.deleteTile(id, "0320")).toBe("absent");
      expect(await s.deleteTile(99, "0320")).toBe("no-mec");
      expect(await s.deleteMec(id)).toBe(true);
      expect(await s.deleteMec(id)).toBe(false);
      expect(await s.tileMatches("03131")).toEqual([]);
      expect((await s.upsertMec(mec("a", ["0313"]))).id).toBe(id + 1);
    });

    run("replicas of one MEC (mergeServices): each POST adds its own entries, lapsed ones go, deleteServicesAt() removes one replica's", async () => {
      const s = await backend.open();
      const at = 1_700_000_000_000;
      const replica = (port: number, now: number): MecUpsert => ({
        ...mec("m", ["0313"], now), expiresAt: now + 30_000, mergeServices: true,
        services: [{ service_name: "registration-api", ip: "127.0.0.1", port: String(port), url: `http://127.0.0.1:${port}` }],
      });
      // Both at once: neither clobbers the other (PostgreSQL: one transaction at a time per name).
      const [x, y] = await Promise.all([s.upsertMec(replica(8081, at)), s.upsertMec(replica(8082, at))]);
      expect(x.id).toBe(y.id);
      const urls = async () => (await s.mecs([x.id]))[0]!.services.map((v) => v.url).sort();
      expect(await urls()).toEqual(["http://127.0.0.1:8081", "http://127.0.0.1:8082"]);
      // 8081 again 40 s later: 8082 lapsed (its own expiresAt), so it is dropped.
      await s.upsertMec(replica(8081, at + 40_000));
      expect(await urls()).toEqual(["http://127.0.0.1:8081"]);
      await s.upsertMec(replica(8082, at + 41_000));
      expect((await s.mecs([x.id]))[0]!.expiresAt).toBe(at + 71_000);
      expect(await s.deleteServicesAt(x.id, "http://127.0.0.1:8082")).toBe("kept");
      expect(await urls()).toEqual(["http://127.0.0.1:8081"]);
      expect(await s.deleteServicesAt(x.id, "http://127.0.0.1:8081")).toBe("deleted");
      expect(await s.mecs([x.id])).toEqual([]);
      expect(await s.deleteServicesAt(x.id, "http://127.0.0.1:8081")).toBe("no-mec");
      // Without mergeServices a POST replaces the list, as before.
      const { id } = await s.upsertMec(replica(8081, at));
      await s.upsertMec({ ...replica(8082, at), mergeServices: false });
      expect((await s.mecs([id]))[0]!.services.map((v) => v.url)).toEqual(["http://127.0.0.1:8082"]);
    });
  });
}
