// One owner per WHIP session across replicas (#13): two real `bun proxy/main.ts` on one real
// PostgreSQL and one real RabbitMQ. A publisher (gst x264 → the agent's WhipPublisher) pushes to
// B: B's `Location` is absolute on B; a push to A meanwhile gets 409 naming B; A lists the
// dataflow with owner B; DELETE on A for B's session is a 307 to B. Then kill -9 B: pushes to A
// keep getting 409 until B's heartbeat lapses (1.5 s), the next one wins (measured: the takeover
// time after the lapse, < 2 s), frames from A reach RabbitMQ, the bus carries exactly one
// `terminatedataflow` (reason replica-lost) for the old session, and B's replica row expires.
import { afterAll, describe, expect, test } from "bun:test";
import postgres from "postgres";
import { createLogger } from "../../agent/log.ts";
import { readRtpStream } from "../../agent/push/rtp_stream_reader.ts";
import { WhipHttpError, WhipPublisher } from "../../agent/push/whip_publisher.ts";
import { PATH, SDP_CONTENT_TYPE, TERMINATE_DATAFLOW } from "../../shared/mod.ts";
import { CHROMIUM_OFFER } from "../proxy/ingest/chromium_offer.ts";
import { hasElements } from "../support/gst.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { sleep, waitUntil } from "../support/wait.ts";
import { consumeEvents, consumeFrames, metric, register, type Registered, startSender } from "./media_harness.ts";
import { pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";
import { spawnGstRtp, waitFor } from "./whip_harness.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const ready = hasPostgres() && hasRabbit() && hasElements("videotestsrc", "x264enc", "rtph264pay", "rtpstreampay");
if (!ready) console.error("replicas_whip_test skipped: needs PostgreSQL, RabbitMQ and GStreamer x264enc");

const LAPSE_MS = 1500;
const json = async <T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> => await (await res).json() as T;

/** `reg` with its WHIP URL on `base` (the replica a load balancer would have picked). */
const on = (reg: Registered, base: string): Registered => ({ ...reg, ingest: { ...reg.ingest, whipUrl: `${base}${PATH.whip(reg.id)}` } });

describe.skipIf(!ready)("WHIP session ownership across two proxies on one PostgreSQL", () => {
  test("push to B; A answers 409 naming B and lists B as owner; kill -9 B: a push to A takes over within 2 s of the lapse, one terminatedataflow, B's row expires", async () => {
    const pg = await getPostgres();
    const rabbit = await getRabbit();
    const name = `repwhip_${process.pid}`;
    pg.createDatabase(name);
    const db = pgUrlOf(pg, name);
    const extra = ["--ice-address", "127.0.0.1"];
    const [a, b] = await Promise.all([startPgProxy(pg, db, rabbit.amqpUrl, { extra }), startPgProxy(pg, db, rabbit.amqpUrl, { extra })]);
    cleanups.push(() => a.stop(), () => b.stop());
    const sql = postgres(db, { password: pg.password, max: 2, onnotice: () => undefined });
    cleanups.push(() => sql.end({ timeout: 1 }));

    // Ids far from 1: every test's proxy on the shared RabbitMQ numbers from 1, and a late
    // terminatedataflow of another test's dataflow 1 would make A's announcer take the
    // replica-lost end as already announced (it dedupes by dataflow id on the bus).
    await sql`ALTER TABLE dataflows ALTER COLUMN id RESTART WITH ${sql.unsafe(String(1_000_000 + (process.pid % 1000) * 1000))}`;
    const reg = await register(a.base);
    const id = reg.id;
    const frames = await consumeFrames(rabbit.amqpUrl, id);
    const ends = await consumeEvents(rabbit.amqpUrl, TERMINATE_DATAFLOW);
    cleanups.push(frames.close, ends.close);

    const onB = await startSender(on(reg, b.base));
    cleanups.push(() => onB.stop());
    expect(onB.pub.location).toStartWith(`${b.base}${PATH.whip(id)}/`);
    await waitUntil("frames from B on RabbitMQ", () => frames.got.length > 10 || undefined, { timeoutMs: 20_000 });

    // A push to A while B's session is alive: 409, one line naming B.
    const conflict = await fetch(`${a.base}${PATH.whip(id)}`, {
      method: "POST", headers: { "content-type": SDP_CONTENT_TYPE, authorization: `Bearer ${reg.ingest.token}` }, body: CHROMIUM_OFFER,
    });
    expect(conflict.status).toBe(409);
    const problem = await conflict.json() as { error: string };
    expect(problem.error).toContain(b.base);
    expect(problem.error).not.toContain("\n");
    // A lists the dataflow with its owner, from the store.
    await waitUntil("A lists B as the owner", async () => (await json(a.call("GET", PATH.dataflow(id)))).ingestReplica === b.base || undefined, { timeoutMs: 3000 });
    const listed = await json<{ id: number; ingestReplica?: string }[]>(a.call("GET", "/dataflows"));
    expect(listed.find((f) => f.id === id)?.ingestReplica).toBe(b.base);
    // DELETE of B's session sent to A: 307 to B (not followed here).
    const sessionPath = new URL(onB.pub.location!).pathname;
    const redirect = await fetch(`${a.base}${sessionPath}`, { method: "DELETE", headers: { authorization: `Bearer ${reg.ingest.token}` }, redirect: "manual" });
    expect(redirect.status).toBe(307);
    expect(redirect.headers.get("location")).toBe(onB.pub.location!);

    const [bRow] = await sql`SELECT id FROM replicas WHERE public_url = ${b.base}` as unknown as { id: string }[];
    expect(bRow).toBeDefined();
    const framesBefore = frames.got.length;
    process.kill(b.proc.pid, "SIGKILL");
    await b.proc.exited;
    const [last] = await sql`SELECT heartbeat_at FROM replicas WHERE id = ${bRow!.id}` as unknown as { heartbeat_at: string }[];
    const lapseAt = Number(last?.heartbeat_at ?? Date.now()) + LAPSE_MS;

    // The publisher moves to A: 409 while B's heartbeat is fresh, then one push wins.
    let pub: WhipPublisher | undefined;
    let refused = 0;
    const deadline = Date.now() + 15_000;
    while (!pub && Date.now() < deadline) {
      const attempt = new WhipPublisher({ url: `${a.base}${PATH.whip(id)}`, token: reg.ingest.token, interfaceAddresses: ["127.0.0.1"], log: createLogger({}, () => {}) });
      try {
        await attempt.start();
        pub = attempt;
      } catch (error) {
        if (!(error instanceof WhipHttpError) || error.status !== 409) throw error;
        refused++;
        await sleep(50); // the publisher's retry cadence, not a wait for a condition
      }
    }
    const wonAt = Date.now();
    expect(pub).toBeDefined();
    cleanups.push(() => pub!.close());
    const takeoverMs = wonAt - lapseAt;
    console.error(`replicas_whip: push to A won ${takeoverMs} ms after B's heartbeat lapsed (${refused} pushes refused with 409 before)`);
    expect(takeoverMs).toBeGreaterThan(-100); // not before the lapse (50 ms beat jitter allowed)
    expect(takeoverMs).toBeLessThan(2000);
    expect(pub!.location).toStartWith(`${a.base}${PATH.whip(id)}/`);

    const gst = spawnGstRtp();
    cleanups.push(() => gst.stop());
    void readRtpStream(gst.child.stdout!, (p) => pub!.sendRtp(p));
    expect(await waitFor(() => pub!.state === "connected", 10_000)).toBe(true);
    await waitUntil("frames from A on RabbitMQ", () => frames.got.length > framesBefore + 10 || undefined, { timeoutMs: 20_000 });

    await waitUntil("terminatedataflow for B's session", () => ends.of(reg).length > 0 || undefined, { timeoutMs: 5000 });
    await sleep(2500); // the announcer's 1 s grace and then some: a second announcement would be here
    const terminations = ends.of(reg);
    expect(terminations).toHaveLength(1);
    expect(terminations[0]!.reason).toBe("replica-lost");

    await waitUntil("B's replica row expired", async () => (await sql`SELECT 1 FROM replicas WHERE id = ${bRow!.id}`).count === 0 || undefined, { timeoutMs: 5000 });
    await waitUntil("A lists itself as the owner", async () => (await json(a.call("GET", PATH.dataflow(id)))).ingestReplica === a.base || undefined, { timeoutMs: 3000 });
    const metrics = await (await a.call("GET", "/metrics")).text();
    expect(metric(metrics, "vsb_whip_replica_takeovers_total")).toBe(1);
    expect(metric(metrics, "vsb_replicas_expired_total")).toBe(1);
    expect(metric(metrics, "vsb_whip_owner_conflicts_total")).toBeGreaterThanOrEqual(1 + refused);
  }, 120_000);
});
