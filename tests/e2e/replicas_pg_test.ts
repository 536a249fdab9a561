// Several proxies, one truth (#13): two real `bun proxy/main.ts` on one real PostgreSQL and one
// real RabbitMQ. A keep-alive, lease or DELETE on replica B shows on replica A within 1 s
// (LISTEN/NOTIFY); B's keep-alives keep A from expiring a dataflow A registered (the stored
// last-seen decides); an expiry with both running is claimed by one replica, so the bus carries
// exactly one `terminatedataflow` and one `send: false`; 1000 concurrent keep-alives across both
// all succeed and reach the database.
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { controlRoutingKey, EVENTS_EXCHANGE, PATH, ROUTE, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { sleep, waitUntil } from "../support/wait.ts";
import { agentBody } from "../proxy/sensor_body.ts";
import { consumeEvents, consumeKey, metric, uniqueAgentBody } from "./media_harness.ts";
import { type PgProxy, pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const ready = hasPostgres() && hasRabbit();
if (!ready) console.error(`replicas_pg_test skipped: ${hasPostgres() ? "" : "no PostgreSQL "}${hasRabbit() ? "" : "no RabbitMQ"}`);

/** Two proxies on one fresh database, keep-alive period 1 s (a dataflow expires after 3 s without presence). */
async function twoReplicas(name: string) {
  const pg = await getPostgres();
  const rabbit = await getRabbit();
  pg.createDatabase(name);
  const db = pgUrlOf(pg, name);
  const extra = ["--keepalive-seconds", "1"];
  const [a, b] = await Promise.all([startPgProxy(pg, db, rabbit.amqpUrl, { extra }), startPgProxy(pg, db, rabbit.amqpUrl, { extra })]);
  cleanups.push(() => a.stop(), () => b.stop());
  const sql = postgres(db, { password: pg.password, max: 2, onnotice: () => undefined });
  cleanups.push(() => sql.end({ timeout: 1 }));
  return { a, b, rabbit, sql };
}

const json = async <T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> => await (await res).json() as T;

/** Keeps dataflow `id` alive on `proxy` every 300 ms until the returned function is called. */
function keepAlive(proxy: PgProxy, id: number): () => Promise<void> {
  let on = true;
  const loop = (async () => {
    while (on) {
      const res = await proxy.call("PUT", PATH.dataflow(id));
      await res.body?.cancel();
      await sleep(300); // the sensor's cadence, not a wait for a condition
    }
  })();
  return async () => {
    on = false;
    await loop;
  };
}

/** Milliseconds until `probe` holds on a replica (polled every 20 ms, at most `budgetMs` + 2 s). */
async function msUntil(probe: () => Promise<boolean>, budgetMs: number): Promise<number> {
  const t0 = performance.now();
  await waitUntil("replica agrees", async () => (await probe()) || undefined, { timeoutMs: budgetMs + 2000, intervalMs: 20 });
  return performance.now() - t0;
}

describe.skipIf(!ready)("two proxies on one PostgreSQL", () => {
  test("register on A, keep alive on B: A does not expire it; a lease and a DELETE on B show on A within 1 s", async () => {
    const { a, b, rabbit } = await twoReplicas(`rep_${process.pid}_a`);
    const ends = await consumeEvents(rabbit.amqpUrl, TERMINATE_DATAFLOW);
    cleanups.push(ends.close);
    const body = uniqueAgentBody();
    const { id } = await json<{ id: number }>(a.call("POST", ROUTE.dataflows, body));
    const mine = () => ends.of({ id, sourceId: body.dataSourceInfo.sourceId });
    const stopKeepAlive = keepAlive(b, id);
    // Five keep-alive periods (expiry is after three), all of them on B only.
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      expect(await json(a.call("GET", PATH.dataflow(id)))).toMatchObject({ active: true });
      await sleep(500);
    }
    expect((await b.call("POST", ROUTE.demands, { dataflowId: id, ttlSeconds: 600 })).status).toBe(201);
    const sendMs = await msUntil(async () => (await json(a.call("GET", PATH.dataflow(id)))).send === true, 1000);
    expect(sendMs).toBeLessThan(1000);
    await stopKeepAlive();
    expect((await b.call("DELETE", PATH.dataflow(id))).status).toBe(204);
    const endMs = await msUntil(async () => (await json(a.call("GET", PATH.dataflow(id)))).active === false, 1000);
    expect(endMs).toBeLessThan(1000);
    expect(await json(a.call("GET", PATH.dataflow(id)))).toMatchObject({ active: false, endReason: "deleted" });
    expect((await a.call("PUT", PATH.dataflow(id))).status).toBe(404);
    await waitUntil("terminatedataflow", () => mine().length > 0 || undefined, { timeoutMs: 5000 });
    await sleep(2500); // the announcer's 1 s grace on both replicas, and then some: a second one would be here
    expect(mine()).toHaveLength(1);
    console.error(`replicas: lease on B → send on A in ${sendMs.toFixed(0)} ms, DELETE on B → ended on A in ${endMs.toFixed(0)} ms`);
  }, 120_000);

  test("an expiry with both replicas running is announced once: one terminatedataflow, one send:false", async () => {
    const { a, b, rabbit } = await twoReplicas(`rep_${process.pid}_b`);
    const ends = await consumeEvents(rabbit.amqpUrl, TERMINATE_DATAFLOW);
    cleanups.push(ends.close);
    const body = uniqueAgentBody();
    const { id } = await json<{ id: number }>(a.call("POST", ROUTE.dataflows, body));
    const mine = () => ends.of({ id, sourceId: body.dataSourceInfo.sourceId });
    const control = await consumeKey(rabbit.amqpUrl, EVENTS_EXCHANGE, controlRoutingKey(id));
    cleanups.push(control.close);
    expect((await a.call("POST", ROUTE.demands, { dataflowId: id, ttlSeconds: 600 })).status).toBe(201);
    // B holds it too (a keep-alive there), and sees send true within 1 s (it hears A's lease).
    expect((await b.call("PUT", PATH.dataflow(id))).status).toBe(200);
    expect(await msUntil(async () => (await json(b.call("GET", PATH.dataflow(id)))).send === true, 1000)).toBeLessThan(1000);
    const sends = () => control.got.map((g) => (JSON.parse(g.body.toString()) as { send: boolean }).send);
    await waitUntil("control send:true", () => sends().includes(true) || undefined, { timeoutMs: 5000 });
    // No more presence: both sweeps find it due after 3 s.
    await waitUntil("expired on A and B", async () =>
      ((await json(a.call("GET", PATH.dataflow(id)))).active === false && (await json(b.call("GET", PATH.dataflow(id)))).active === false) || undefined,
    { timeoutMs: 15_000, intervalMs: 100 });
    await waitUntil("terminatedataflow", () => mine().length > 0 || undefined, { timeoutMs: 5000 });
    await sleep(2500); // both sweeps ran twice more, and both announcers' grace passed
    expect(mine()).toHaveLength(1);
    const afterTrue = sends().slice(sends().indexOf(true) + 1);
    expect(afterTrue).toEqual([false]);
  }, 120_000);

  test("a lease that runs out with both replicas running is claimed once: one send:false, and both say send false", async () => {
    const { a, b, rabbit } = await twoReplicas(`rep_${process.pid}_d`);
    const { id } = await json<{ id: number }>(a.call("POST", ROUTE.dataflows, uniqueAgentBody()));
    const control = await consumeKey(rabbit.amqpUrl, EVENTS_EXCHANGE, controlRoutingKey(id));
    cleanups.push(control.close);
    const stopA = keepAlive(a, id);
    const stopB = keepAlive(b, id);
    cleanups.push(stopA, stopB);
    expect((await b.call("POST", ROUTE.demands, { dataflowId: id, ttlSeconds: 2 })).status).toBe(201);
    expect(await msUntil(async () => (await json(a.call("GET", PATH.dataflow(id)))).send === true, 1000)).toBeLessThan(1000);
    const sends = () => control.got.map((g) => (JSON.parse(g.body.toString()) as { send: boolean }).send);
    await waitUntil("send false on A and B", async () =>
      ((await json(a.call("GET", PATH.dataflow(id)))).send === false && (await json(b.call("GET", PATH.dataflow(id)))).send === false) || undefined,
    { timeoutMs: 10_000, intervalMs: 50 });
    await waitUntil("control send:false", () => sends().lastIndexOf(false) > sends().indexOf(true) || undefined, { timeoutMs: 5000 });
    await sleep(2000); // both sweeps ran twice more: a second announcement would be here
    expect(sends().slice(sends().indexOf(true) + 1)).toEqual([false]);
    await stopA();
    await stopB();
  }, 120_000);

  test("1000 concurrent keep-alives across A and B: every one answered 200 and counted, last-seen in the database", async () => {
    const { a, b, sql } = await twoReplicas(`rep_${process.pid}_c`);
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push((await json<{ id: number }>((i % 2 ? b : a).call("POST", ROUTE.dataflows, agentBody()))).id);
    const okOf = async (p: PgProxy) => metric(await (await fetch(`${p.base}/metrics`)).text(), "vsb_keepalives_total", '{result="ok"}') ?? 0;
    const before = (await okOf(a)) + (await okOf(b));
    const t0 = Date.now();
    const statuses = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const res = await (i % 2 ? b : a).call("PUT", PATH.dataflow(ids[i % ids.length]!));
      await res.body?.cancel();
      return res.status;
    }));
    const took = Date.now() - t0;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect((await okOf(a)) + (await okOf(b)) - before).toBe(1000);
    // Flushed within a second or two by whichever replica answered: every row was seen at or after t0.
    await waitUntil("last-seen flushed", async () => {
      const rows = await sql`SELECT id::int AS id, last_seen_at FROM dataflows WHERE active = 1`;
      return (rows.length === ids.length && rows.every((r) => Number(r.last_seen_at) >= t0)) || undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    console.error(`replicas: 1000 concurrent keep-alives across 2 proxies in ${took} ms`);
  }, 120_000);
});
