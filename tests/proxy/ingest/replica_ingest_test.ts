// WHIP session ownership between two replicas in one test process: two WHIP servers ("A" and
// "B", real Bun.serve, real werift publishers on loopback), each with its own SessionRegistry and
// replicaIngest() on one real SQLite store file (the rows a PostgreSQL would hold; the same
// contract, tests/proxy/replica_rows_contract_test.ts). Heartbeat 100 ms, lapse 300 ms, takeover
// after 500 ms of silence, so that the cases run in seconds.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Hono } from "hono";
import { createLogger } from "../../../agent/log.ts";
import { WhipHttpError, WhipPublisher } from "../../../agent/push/whip_publisher.ts";
import { replicaIngest, type ReplicaIngest } from "../../../proxy/ingest/replica_ingest.ts";
import { type SessionSummary, SessionRegistry } from "../../../proxy/ingest/session_registry.ts";
import { whipRoutes } from "../../../proxy/ingest/whip_routes.ts";
import { configureLog, logger } from "../../../proxy/log.ts";
import { sqliteDataflowStore } from "../../../proxy/store/store_api.ts";
import { Store } from "../../../proxy/store/store.ts";
import { LOOPBACK_ICE, type RecordedSession, recordingSinks, replayFixture, waitFor } from "../../e2e/whip_harness.ts";
import { tempDir } from "../../support/temp_dir.ts";

const TOKEN = "tok";
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

interface Replica {
  base: string;
  sessions: SessionRegistry;
  recorded: RecordedSession[];
  ends: { sessionId: string; reason: string }[];
  announced: SessionSummary[];
  replica: ReplicaIngest;
  rows: ReturnType<typeof sqliteDataflowStore>["replicas"];
}

let dbPath: string;
beforeAll(() => {
  configureLog({ level: "silent" });
  dbPath = join(tempDir("vsb-replica-ingest-").path, "vsb.db");
});

function startReplica(): Replica {
  const store = sqliteDataflowStore(new Store(dbPath, { first: 7000, last: 7001 }));
  const recorded: RecordedSession[] = [];
  const ends: Replica["ends"] = [];
  const announced: SessionSummary[] = [];
  let replica!: ReplicaIngest;
  const sessions = new SessionRegistry({
    ice: LOOPBACK_ICE, log: logger("ingest"), sinks: recordingSinks(recorded), takeoverAfterMs: 500, checkIntervalMs: 100,
    onEnd: (s, reason) => {
      ends.push({ sessionId: s.sessionId, reason });
      replica.ownership.ended(s.dataflowId, s.sessionId);
    },
  });
  const app = new Hono();
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => app.fetch(req) });
  const base = `http://127.0.0.1:${server.port}`;
  replica = replicaIngest(() => sessions, {
    rows: store.replicas, publicUrl: base, log: logger("ingest"), heartbeatMs: 100, lapseMs: 300, announce: (s) => announced.push(s),
  });
  app.route("/", whipRoutes({ authenticate: (_id, token) => (token === TOKEN ? "ok" : "unauthorized"), registry: sessions, ownership: replica.ownership }));
  cleanups.push(async () => {
    sessions.close();
    await replica.stop();
    await server.stop(true);
    await store.close();
  });
  return { base, sessions, recorded, ends, announced, replica, rows: store.replicas };
}

function publisher(base: string, id: number): WhipPublisher {
  const pub = new WhipPublisher({ url: `${base}/whip/${id}`, token: TOKEN, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
  cleanups.push(() => pub.close());
  return pub;
}

/** Starts a publisher on `base` sending the fixture; resolves once packets arrive. */
async function streaming(r: Replica, id: number) {
  const pub = publisher(r.base, id);
  await pub.start();
  const replay = replayFixture((p) => pub.sendRtp(p));
  cleanups.push(() => replay.stop());
  expect(await waitFor(() => (r.sessions.get(id)?.counters.packets ?? 0) > 10, 5000)).toBe(true);
  return { pub, replay };
}

const status = async (p: Promise<unknown>) => ((await p.then(() => undefined, (e) => e)) as WhipHttpError | undefined)?.status;

describe("replicaIngest(): WHIP sessions owned by one replica", () => {
  let a: Replica;
  let b: Replica;
  beforeAll(() => {
    a = startReplica();
    b = startReplica();
  });

  test("on one replica, a publisher that vanished is taken over after the silence, as without replicas; the row names the new session; nothing announced", async () => {
    const first = await streaming(a, 1);
    expect(first.pub.location).toStartWith(`${a.base}/whip/1/`); // absolute, on the owner
    const oldSession = a.sessions.get(1)!.sessionId;
    first.replay.stop();
    expect(await status(publisher(a.base, 1).start())).toBe(409);
    await Bun.sleep(600); // past takeoverAfterMs of silence (a wait for the rule's own delay)
    const second = publisher(a.base, 1);
    await second.start();
    expect(a.ends.find((e) => e.sessionId === oldSession)?.reason).toBe("takeover");
    const row = await a.rows.sessionOwner(1);
    expect(row).toMatchObject({ session_id: a.sessions.get(1)!.sessionId, public_url: a.base });
    expect(a.announced).toEqual([]);
    await second.close();
    expect(await waitFor(() => a.sessions.get(1) === undefined, 2000)).toBe(true);
  }, 20_000);

  test("a push to B while A streams: 409 naming A; DELETE and PATCH on B answer 307 to A", async () => {
    const { pub } = await streaming(a, 2);
    const res = await fetch(`${b.base}/whip/2`, { method: "POST", headers: { "content-type": "application/sdp", authorization: `Bearer ${TOKEN}` }, body: "v=0\r\n" });
    // A malformed offer is refused before any claim: 400; a real one meets the owner.
    expect(res.status).toBe(400);
    const err = await publisher(b.base, 2).start().catch((e) => e) as WhipHttpError;
    expect(err.status).toBe(409);
    expect(err.message).toContain(a.base);
    expect(b.replica.ownership.counts.conflicts).toBeGreaterThanOrEqual(1);
    const path = new URL(pub.location!).pathname;
    for (const method of ["DELETE", "PATCH"]) {
      const moved = await fetch(`${b.base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, redirect: "manual" });
      expect(moved.status).toBe(307);
      expect(moved.headers.get("location")).toBe(pub.location!);
    }
    expect(await waitFor(() => b.replica.presence.ownerOf(2) === a.base, 1000)).toBe(true);
    await pub.close();
  }, 20_000);

  test("A's session goes silent: A stops beating it, a push to B takes it over after the lapse, A closes its own (takeover) and B announces the old session once", async () => {
    const first = await streaming(a, 3);
    const oldSession = a.sessions.get(3)!.sessionId;
    first.replay.stop();
    const lastPacketAt = a.sessions.get(3)!.lastPacketAt ?? Date.now();
    let refused = 0;
    let won: WhipPublisher | undefined;
    const t0 = Date.now();
    while (!won && Date.now() - t0 < 5000) {
      const attempt = publisher(b.base, 3);
      const s = await status(attempt.start());
      if (s === undefined) won = attempt;
      else if (s === 409) refused++;
      else throw new Error(`push answered ${s}`);
    }
    expect(won).toBeDefined();
    expect(refused).toBeGreaterThan(0); // silence (500 ms) plus lapse (300 ms) had to pass first
    // From the last packet: 500 ms silence, then the row's lapse (300 ms) after its last beat,
    // which may be one beat (100 ms) before the silence began: at least 700 ms.
    expect(Date.now() - lastPacketAt).toBeGreaterThanOrEqual(700);
    expect(won!.location).toStartWith(`${b.base}/whip/3/`);
    expect(await waitFor(() => a.ends.some((e) => e.sessionId === oldSession), 2000)).toBe(true);
    expect(a.ends.find((e) => e.sessionId === oldSession)?.reason).toBe("takeover");
    expect(b.announced.map((s) => s.sessionId)).toEqual([oldSession]);
    expect(a.announced).toEqual([]);
    expect(b.replica.ownership.counts.takeovers).toBe(1);
  }, 20_000);
});
