// `--db postgres://…` in the real proxy binary on a real PostgreSQL 15 and RabbitMQ (#13):
// registration, keep-alive, a lease turning send on, DELETE, and a restart that reloads the
// active dataflow and its lease from PostgreSQL (the rows are read back with psql's client to
// prove they live there). A database that cannot be reached or refuses the password stops the
// start with exit 2 and one line naming --db, the password masked.
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { freePort } from "../support/ports.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { spawnTracked } from "../support/procs.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";

const root = new URL("../..", import.meta.url).pathname;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const ready = hasPostgres() && hasRabbit();
if (!ready) console.error(`proxy_postgres_test skipped: ${hasPostgres() ? "" : "no PostgreSQL (apt-get install postgresql) "}${hasRabbit() ? "" : "no RabbitMQ"}`);

describe.skipIf(!ready)("bun proxy/main.ts --db postgres://", () => {
  test("register, keep-alive, lease → send true, DELETE; a restart reloads the active dataflow and its lease from PostgreSQL", async () => {
    const pg = await getPostgres();
    const rabbit = await getRabbit();
    const name = `e2e_${process.pid}_a`;
    pg.createDatabase(name);
    const db = pgUrlOf(pg, name);
    let proxy = await startPgProxy(pg, db, rabbit.amqpUrl, { via: "env" });
    cleanups.push(() => proxy.stop());

    const kept = await (await proxy.call("POST", ROUTE.dataflows, agentBody())).json() as { id: number; send: boolean };
    const deleted = await (await proxy.call("POST", ROUTE.dataflows, agentBody())).json() as { id: number };
    expect(kept.send).toBe(false);
    expect((await (await proxy.call("PUT", PATH.dataflow(kept.id))).json()).send).toBe(false);
    expect((await proxy.call("POST", ROUTE.demands, { dataflowId: kept.id, ttlSeconds: 600 })).status).toBe(201);
    expect((await (await proxy.call("PUT", PATH.dataflow(kept.id))).json()).send).toBe(true);
    expect((await proxy.call("DELETE", PATH.dataflow(deleted.id))).status).toBe(204);
    expect((await proxy.call("PUT", PATH.dataflow(deleted.id))).status).toBe(404);

    // The rows are in PostgreSQL (not in a SQLite file beside the proxy).
    const sql = postgres(db, { password: pg.password, max: 1, onnotice: () => undefined });
    cleanups.push(() => sql.end({ timeout: 1 }));
    const rows = await sql`SELECT id::int AS id, active, end_reason FROM dataflows ORDER BY id`;
    expect(rows.map((r) => ({ ...r }))).toEqual([
      { id: kept.id, active: 1, end_reason: null },
      { id: deleted.id, active: 0, end_reason: "deleted" },
    ]);
    expect((await sql`SELECT count(*)::int AS n FROM demands WHERE dataflow_id = ${kept.id}`)[0]!.n).toBe(1);

    // Restart (the password from a file this time): the active dataflow and its lease come back.
    await proxy.stop();
    proxy = await startPgProxy(pg, db, rabbit.amqpUrl, { via: "file", port: proxy.port });
    const back = await (await proxy.call("GET", PATH.dataflow(kept.id))).json() as { active: boolean; send: boolean };
    expect(back).toMatchObject({ active: true, send: true });
    expect((await (await proxy.call("PUT", PATH.dataflow(kept.id))).json()).send).toBe(true);
    expect(await (await proxy.call("GET", PATH.dataflow(deleted.id))).json()).toMatchObject({ active: false, endReason: "deleted" });
    // A new registration gets a new id, never a reused one.
    const third = await (await proxy.call("POST", ROUTE.dataflows, agentBody())).json() as { id: number };
    expect(third.id).toBeGreaterThan(deleted.id);
    expect(readdirSync(proxy.cwd).filter((f) => f.endsWith(".db"))).toEqual([]); // no SQLite store beside it
  }, 120_000);

  test("an unreachable database, a wrong password or a bad URL exits 2 with one line naming --db, the password masked", async () => {
    const pg = await getPostgres();
    const run = async (args: string[], env: Record<string, string | undefined> = {}) => {
      const p = spawnTracked(process.execPath, [join(root, "proxy/main.ts"), "--listen", "127.0.0.1:0", "--log-level", "silent", ...args],
        { cwd: root, env: { PGPASSWORD: undefined, VSB_LISTEN: undefined, ...env }, name: "vsb-proxy" });
      const { code } = await p.exited;
      return { code, lines: p.output("stderr").trim().split("\n") };
    };
    const closed = await freePort();
    const unreachable = await run(["--db", `postgres://vsb@127.0.0.1:${closed}/vsb`], { PGPASSWORD: pg.password });
    expect(unreachable.code).toBe(2);
    expect(unreachable.lines).toHaveLength(1);
    expect(unreachable.lines[0]).toStartWith(`vsb-proxy: --db "postgres://vsb@127.0.0.1:${closed}/vsb": the store could not be opened: `);

    const denied = await run(["--db", `postgres://vsb:not-the-password@127.0.0.1:${pg.port}/vsb`]);
    expect(denied.code).toBe(2);
    expect(denied.lines).toHaveLength(1);
    expect(denied.lines[0]).toStartWith(`vsb-proxy: --db "postgres://vsb:***@127.0.0.1:${pg.port}/vsb": the store could not be opened: `);
    expect(denied.lines[0]).toContain("password authentication failed");
    expect(denied.lines[0]).not.toContain("not-the-password");

    const noDb = await run(["--db", `postgres://vsb@127.0.0.1:${pg.port}`]);
    expect(noDb.code).toBe(2);
    expect(noDb.lines).toEqual([`vsb-proxy: --db "postgres://vsb@127.0.0.1:${pg.port}": no database name; expected postgres://USER@HOST:PORT/DB`]);
    const noFile = await run(["--db", `postgres://vsb@127.0.0.1:${pg.port}/vsb`, "--db-password-file", "/nonexistent/pw"]);
    expect(noFile.code).toBe(2);
    expect(noFile.lines).toHaveLength(1);
    expect(noFile.lines[0]).toStartWith('vsb-proxy: --db-password-file "/nonexistent/pw" could not be read:');
  }, 120_000);
});
