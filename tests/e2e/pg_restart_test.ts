// PostgreSQL restarted under a running proxy (#13 faults): its own PostgreSQL (startPostgres, not
// the shared one, since it is stopped), a real RabbitMQ and the proxy binary. While the database is
// down, registrations answer 503 and /ready says 503, and keep-alives of known dataflows still
// answer from memory; once it is back, everything recovers without restarting the proxy, and the
// keep-alives of the outage reach the database.
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { hasPostgres, startPostgres } from "../support/postgres.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const ready = hasPostgres() && hasRabbit();
if (!ready) console.error(`pg_restart_test skipped: ${hasPostgres() ? "" : "no PostgreSQL "}${hasRabbit() ? "" : "no RabbitMQ"}`);

describe.skipIf(!ready)("PostgreSQL restarted under a running proxy", () => {
  test("registrations 503 and /ready 503 while it is down, keep-alives still answered; recovery without a proxy restart", async () => {
    const pg = await startPostgres();
    const rabbit = await getRabbit();
    pg.createDatabase("restart");
    const db = pgUrlOf(pg, "restart");
    const proxy = await startPgProxy(pg, db, rabbit.amqpUrl);
    cleanups.push(() => proxy.stop());
    const { id } = await (await proxy.call("POST", ROUTE.dataflows, agentBody())).json() as { id: number };

    await pg.stop();
    const status = async (method: string, path: string, body?: unknown) => {
      const res = await proxy.call(method, path, body);
      await res.body?.cancel();
      return res.status;
    };
    await waitUntil("/ready 503", async () => (await status("GET", ROUTE.ready)) === 503 || undefined, { timeoutMs: 10_000, intervalMs: 100 });
    expect(await status("POST", ROUTE.dataflows, agentBody())).toBe(503);
    expect(await status("PUT", PATH.dataflow(id))).toBe(200); // from memory; flushed later
    const outageKeepalive = Date.now();

    await pg.start();
    await waitUntil("/ready 200", async () => (await status("GET", ROUTE.ready)) === 200 || undefined, { timeoutMs: 20_000, intervalMs: 100 });
    expect(await status("POST", ROUTE.dataflows, agentBody())).toBe(201);
    expect(await status("PUT", PATH.dataflow(id))).toBe(200);
    const sql = postgres(db, { password: pg.password, max: 1, onnotice: () => undefined });
    cleanups.push(() => sql.end({ timeout: 1 }));
    await waitUntil("the outage's keep-alive in the database", async () => {
      const [row] = await sql`SELECT last_seen_at FROM dataflows WHERE id = ${id}`;
      return (row && Number(row.last_seen_at) >= outageKeepalive) || undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    expect((await sql`SELECT count(*)::int AS n FROM dataflows WHERE active = 1`)[0]!.n).toBe(2);
  }, 120_000);
});
