// Replica and WHIP-owner rows (#13), one behaviour in both stores: the same cases run against
// the embedded SQLite store and a real PostgreSQL 15 (tests/support/postgres.ts, one fresh
// database per case). Races use two handles on one database (two pools for PostgreSQL: two
// "replicas"): of concurrent claims for one dataflow exactly one wins, and a dead replica's
// row is expired by exactly one sweeper.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { PgStore } from "../../proxy/store/pg_store.ts";
import type { SessionClaim } from "../../proxy/store/replica_rows.ts";
import { type DataflowStore, sqliteDataflowStore } from "../../proxy/store/store_api.ts";
import { Store } from "../../proxy/store/store.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { tempDir } from "../support/temp_dir.ts";

const PORTS = { first: 7000, last: 7002 };
const opened: DataflowStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.close().catch(() => undefined);
});

let dbCount = 0;
/** Two handles on one fresh database. */
const BACKENDS: { name: string; available: boolean; open(): Promise<[DataflowStore, DataflowStore]> }[] = [
  {
    name: "sqlite",
    available: true,
    open: async () => {
      const path = join(tempDir("vsb-replicas-").path, "vsb.db");
      return [sqliteDataflowStore(new Store(path, PORTS)), sqliteDataflowStore(new Store(path, PORTS))];
    },
  },
  {
    name: "postgres",
    available: hasPostgres(),
    open: async () => {
      const url = (await getPostgres()).createDatabase(`r${process.pid}_${++dbCount}`);
      const a = await PgStore.open(url, PORTS, { max: 4 });
      return [a, await PgStore.open(url, PORTS, { max: 4 })];
    },
  },
];

const A = { id: "replica-a", publicUrl: "http://127.0.0.1:9001" };
const B = { id: "replica-b", publicUrl: "http://127.0.0.1:9002" };
const LAPSE = 1500;

for (const backend of BACKENDS) {
  const run = backend.available ? test : test.skip;
  if (!backend.available) console.log(`skipped: the ${backend.name} replica cases need PostgreSQL (apt-get install postgresql)`);
  describe(`ReplicaRows of the ${backend.name} store`, () => {
    const open = async () => {
      const pair = await backend.open();
      opened.push(...pair);
      return pair.map((s) => s.replicas) as [DataflowStore["replicas"], DataflowStore["replicas"]];
    };

    run("heartbeat() upserts the replica row; expireReplicas() takes only stale rows, each once", async () => {
      const [a] = await open();
      expect(await a.heartbeat(A, 1000, [])).toEqual([]);
      await a.heartbeat(B, 1200, []);
      await a.heartbeat(A, 3000, []);
      expect(await a.replicas()).toEqual([
        { id: A.id, public_url: A.publicUrl, started_at: 1000, heartbeat_at: 3000 },
        { id: B.id, public_url: B.publicUrl, started_at: 1200, heartbeat_at: 1200 },
      ]);
      expect(await a.expireReplicas(3000 - LAPSE)).toEqual([B.id]);
      expect(await a.expireReplicas(3000 - LAPSE)).toEqual([]);
      expect((await a.replicas()).map((r) => r.id)).toEqual([A.id]);
      await a.removeReplica(A.id);
      expect(await a.replicas()).toEqual([]);
    });

    run("claimSession(): a fresh row of another replica loses (naming its owner); its own row and a stale one are taken", async () => {
      const [a] = await open();
      const claim = (replica: typeof A, sessionId: string, now: number) =>
        a.claimSession({ dataflowId: 7, replica, sessionId, now, staleBefore: now - LAPSE });
      expect(await claim(B, "s1", 1000)).toEqual({ won: true });
      const lost = await claim(A, "s2", 2000);
      expect(lost).toMatchObject({ won: false, owner: { replica_id: B.id, public_url: B.publicUrl, session_id: "s1" } });
      // B replaces its own session at once (today's single-process takeover stays the registry's call).
      expect(await claim(B, "s3", 2100)).toMatchObject({ won: true, previous: { replica_id: B.id, session_id: "s1" } });
      // B's heartbeat keeps s3 fresh; A still loses.
      expect(await a.heartbeat(B, 3000, ["s3"])).toEqual(["s3"]);
      expect((await claim(A, "s4", 4400)).won).toBe(false);
      // B stops beating: 1.5 s after its last heartbeat (3000) the row is A's to take.
      expect((await claim(A, "s4", 4499)).won).toBe(false);
      const taken = await claim(A, "s4", 4501);
      expect(taken).toMatchObject({ won: true, previous: { replica_id: B.id, public_url: B.publicUrl, session_id: "s3", created_at: 2100, heartbeat_at: 3000 } });
      expect(await a.sessionOwner(7)).toEqual({ dataflow_id: 7, replica_id: A.id, public_url: A.publicUrl, session_id: "s4", created_at: 4501, heartbeat_at: 4501 });
      // B comes back: its heartbeat no longer lists the session (it was taken over).
      expect(await a.heartbeat(B, 4600, ["s3"])).toEqual([]);
    });

    run("heartbeat() refreshes only the live sessions; sessionOwners() lists the fresh ones", async () => {
      const [a] = await open();
      await a.claimSession({ dataflowId: 1, replica: A, sessionId: "x", now: 1000, staleBefore: 0 });
      await a.claimSession({ dataflowId: 2, replica: A, sessionId: "y", now: 1000, staleBefore: 0 });
      expect((await a.heartbeat(A, 5000, ["x"])).sort()).toEqual(["x", "y"]);
      expect((await a.sessionOwners(5000 - LAPSE)).map((r) => [r.dataflow_id, r.session_id, r.heartbeat_at])).toEqual([[1, "x", 5000]]);
      expect((await a.sessionOwners(0)).map((r) => r.dataflow_id)).toEqual([1, 2]);
    });

    run("restoreSession() puts the previous row back only while the row names the failed session; releaseSession() deletes", async () => {
      const [a] = await open();
      await a.claimSession({ dataflowId: 3, replica: B, sessionId: "old", now: 1000, staleBefore: 0 });
      const won = await a.claimSession({ dataflowId: 3, replica: A, sessionId: "new", now: 9000, staleBefore: 9000 - LAPSE }) as SessionClaim & { won: true };
      expect(won.previous?.session_id).toBe("old");
      await a.restoreSession(3, "other", undefined); // not the row's session: nothing happens
      expect((await a.sessionOwner(3))?.session_id).toBe("new");
      await a.restoreSession(3, "new", won.previous);
      expect(await a.sessionOwner(3)).toEqual(won.previous);
      await a.claimSession({ dataflowId: 4, replica: A, sessionId: "only", now: 1000, staleBefore: 0 });
      await a.restoreSession(4, "only");
      expect(await a.sessionOwner(4)).toBeUndefined();
      expect(await a.releaseSession(3, "new")).toBe(false);
      expect(await a.releaseSession(3, "old")).toBe(true);
      await a.claimSession({ dataflowId: 3, replica: A, sessionId: "z", now: 1000, staleBefore: 0 });
      expect(await a.releaseSession(3)).toBe(true);
      expect(await a.releaseSession(3)).toBe(false);
    });

    run("two replicas race: of 2×10 claims on a dataflow nobody owns exactly one wins; on a stale row exactly one takes it over", async () => {
      const [a, b] = await open();
      const race = async (dataflowId: number, now: number) => {
        const claims = Array.from({ length: 10 }, (_, i) => [
          a.claimSession({ dataflowId, replica: { id: `ra${i}`, publicUrl: A.publicUrl }, sessionId: `a${i}`, now, staleBefore: now - LAPSE }),
          b.claimSession({ dataflowId, replica: { id: `rb${i}`, publicUrl: B.publicUrl }, sessionId: `b${i}`, now, staleBefore: now - LAPSE }),
        ]).flat();
        return (await Promise.all(claims)).filter((c) => c.won);
      };
      const first = await race(11, 1000);
      expect(first.length).toBe(1);
      expect(first[0]).toEqual({ won: true });
      const owner = (await a.sessionOwner(11))!;
      const second = await race(11, 1000 + LAPSE + 1);
      expect(second.length).toBe(1);
      expect(second[0]).toMatchObject({ won: true, previous: { session_id: owner.session_id } });
      // Both sweep a dead replica's row at once: it is expired once.
      await a.heartbeat(B, 1000, []);
      const swept = await Promise.all([a.expireReplicas(5000), b.expireReplicas(5000), a.expireReplicas(5000), b.expireReplicas(5000)]);
      expect(swept.flat()).toEqual([B.id]);
    });
  });
}
