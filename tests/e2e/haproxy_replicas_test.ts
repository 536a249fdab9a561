// All cores on one host (#13 item 4): haproxy from the Debian package, configured from the
// README's recipe (systemd/haproxy-vsb.cfg), in front of two real `bun proxy/main.ts` on one
// real PostgreSQL and RabbitMQ. Registrations and keep-alives sent to haproxy's one port are
// spread over both replicas; 1000 concurrent keep-alives through it all answer 200, each one is
// counted by the replica that answered, and every row's last-seen reaches the database; a
// replica killed with SIGKILL costs no request: haproxy sends them to the other.
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { hasHaproxy, startHaproxy } from "./haproxy_harness.ts";
import { metric } from "./media_harness.ts";
import { type PgProxy, pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const ready = hasPostgres() && hasRabbit() && hasHaproxy();
if (!ready) console.error(`haproxy_replicas_test skipped: needs PostgreSQL, RabbitMQ and haproxy (make setup installs them)`);

const count = async (p: PgProxy, name: string, labels = "") => metric(await (await fetch(`${p.base}/metrics`)).text(), name, labels) ?? 0;

describe.skipIf(!ready)("haproxy in front of two proxies on one PostgreSQL", () => {
  test("spreads registrations and 1000 concurrent keep-alives with no lost update; a SIGKILLed replica costs no request", async () => {
    const pg = await getPostgres();
    const rabbit = await getRabbit();
    const name = `hap_${process.pid}`;
    pg.createDatabase(name);
    const db = pgUrlOf(pg, name);
    const [a, b] = await Promise.all([startPgProxy(pg, db, rabbit.amqpUrl), startPgProxy(pg, db, rabbit.amqpUrl)]);
    cleanups.push(() => a.stop(), () => b.stop());
    const lb = await startHaproxy([a.port, b.port]);
    cleanups.push(() => lb.stop());
    const call = (method: string, path: string, body?: unknown) => fetch(`${lb.base}${path}`, {
      method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const ids: number[] = [];
    const regs = await Promise.all(Array.from({ length: 20 }, async () => {
      const res = await call("POST", ROUTE.dataflows, agentBody());
      expect(res.status).toBe(201);
      return (await res.json() as { id: number }).id;
    }));
    ids.push(...regs);
    expect(new Set(ids).size).toBe(20);
    const [regA, regB] = [await count(a, "vsb_registrations_total"), await count(b, "vsb_registrations_total")];
    expect(regA + regB).toBe(20);
    if (Math.min(regA, regB) === 0) console.error(lb.proc.output());
    expect(Math.min(regA, regB)).toBeGreaterThan(0);

    const t0 = Date.now();
    const statuses = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const res = await call("PUT", PATH.dataflow(ids[i % ids.length]!));
      await res.body?.cancel();
      return res.status;
    }));
    const took = Date.now() - t0;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const okA = await count(a, "vsb_keepalives_total", '{result="ok"}');
    const okB = await count(b, "vsb_keepalives_total", '{result="ok"}');
    expect(okA + okB).toBe(1000);
    expect(Math.min(okA, okB)).toBeGreaterThan(100);
    const sql = postgres(db, { password: pg.password, max: 1, onnotice: () => undefined });
    cleanups.push(() => sql.end({ timeout: 1 }));
    await waitUntil("last-seen flushed", async () => {
      const rows = await sql`SELECT id::int AS id, last_seen_at FROM dataflows WHERE active = 1`;
      return (rows.length === ids.length && rows.every((r) => Number(r.last_seen_at) >= t0)) || undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    console.error(`haproxy: 1000 concurrent keep-alives in ${took} ms, ${okA} on A and ${okB} on B`);

    // SIGKILL A: haproxy retries a refused connection on B (retries + redispatch), before its
    // health check has even marked A down.
    a.proc.child.kill("SIGKILL");
    await a.proc.exited;
    const after = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const res = await call("PUT", PATH.dataflow(ids[i % ids.length]!));
      await res.body?.cancel();
      return res.status;
    }));
    expect(after.filter((s) => s !== 200)).toEqual([]);
    expect(await count(b, "vsb_keepalives_total", '{result="ok"}')).toBe(okB + 200);
  }, 120_000);
});
