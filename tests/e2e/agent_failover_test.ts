// The agent moves to another replica (#13 item 2, fourth bullet): two real proxies on one real
// PostgreSQL register as one MEC ("motorway") at a discovery service, so its answer lists both
// `registration-api` entries; the agent (source, under the pinned Deno) streams real GStreamer
// H.264 to one of them; that replica is killed with SIGKILL. The agent keeps the same dataflow
// alive on the other replica and pushes to it; frames of that dataflow reach RabbitMQ again
// within 15 s of the kill.
import { afterAll, describe, expect } from "bun:test";
import { hasElements, skipUnless } from "../support/gst.ts";
import { getPostgres, hasPostgres } from "../support/postgres.ts";
import { getRabbit, hasRabbit } from "../support/rabbitmq.ts";
import { waitUntil } from "../support/wait.ts";
import { denoBinary, startAgentUnderDeno, watchBus } from "./agent_e2e_harness.ts";
import { metric } from "./media_harness.ts";
import { type PgProxy, pgUrlOf, startPgProxy } from "./pg_proxy_harness.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
}, 30_000);

const ready = hasPostgres() && hasRabbit() && denoBinary() !== undefined && hasElements("x264enc", "rtpstreampay", "clockoverlay");
const run = skipUnless(ready, "needs PostgreSQL, RabbitMQ, the pinned Deno and GStreamer (x264enc, rtpstreampay, clockoverlay)");

const LAT = "43.295778";
const LON = "-1.980823";
const keepalivesOk = async (p: PgProxy) => metric(await (await fetch(`${p.base}/metrics`)).text(), "vsb_keepalives_total", '{result="ok"}') ?? 0;

describe("agent failover across replicas", () => {
  run("replica SIGKILLed while the agent streams to it → same dataflow kept alive on the other, frames again within 15 s", async () => {
    const pg = await getPostgres();
    const rabbit = await getRabbit();
    const tag = `fo_${process.pid}`;
    pg.createDatabase(`${tag}_disc`);
    pg.createDatabase(tag);
    // The discovery service (a proxy with --discovery on a database of its own).
    const discovery = await startPgProxy(pg, pgUrlOf(pg, `${tag}_disc`), rabbit.amqpUrl, { extra: ["--discovery"] });
    cleanups.push(() => discovery.stop());
    const replicaArgs = [
      "--keepalive-seconds", "2", "--ice-address", "127.0.0.1", "--mec-id", "motorway", "--mec-tiles", "0313",
      "--discovery-register-url", discovery.base, "--discovery-register-interval", "2s",
    ];
    const db = pgUrlOf(pg, tag);
    const replicas = await Promise.all([0, 1].map(() => startPgProxy(pg, db, rabbit.amqpUrl, { extra: replicaArgs })));
    cleanups.push(...replicas.map((r) => () => r.stop()));
    await waitUntil("both replicas named by discovery", async () => {
      const answer = await (await fetch(`${discovery.base}/mec/tile/0313`)).json() as { sb_services: { service_name: string }[] }[];
      return answer[0]?.sb_services.filter((s) => s.service_name === "registration-api").length === 2 || undefined;
    }, { timeoutMs: 15_000 });
    const bus = await watchBus(rabbit.amqpUrl);

    const agent = startAgentUnderDeno([
      "--source", "test", "--width", "320", "--height", "240", "--fps", "30", "--bitrate", "500",
      "--lat", LAT, "--lon", LON, "--discovery-url", discovery.base, "--no-mqtt", "--ice-address", "127.0.0.1",
    ]);
    cleanups.push(() => agent.stop());
    const registering = JSON.parse(await agent.waitForLine(/"to":"registering"/, { timeoutMs: 60_000, stream: "stderr" })) as { reason: string };
    const id = JSON.parse(await agent.waitForLine(/"msg":"registered"/, { timeoutMs: 30_000, stream: "stderr" })).id as number;
    const victim = replicas.find((r) => r.base === registering.reason)!;
    const survivor = replicas.find((r) => r !== victim)!;
    expect(victim).toBeDefined();
    // Demand through the survivor: the lease is in the shared database.
    const lease = await survivor.call("POST", "/demands", { dataflowId: id, ttlSeconds: 600 });
    expect(lease.status).toBe(201);
    await waitUntil("frames before the kill", () => bus.framesOf(id).length > 30 || undefined, { timeoutMs: 30_000, proc: agent });

    const before = await keepalivesOk(survivor);
    victim.proc.child.kill("SIGKILL");
    await victim.proc.exited;
    const killedAt = performance.now();
    await agent.waitForLine(/"msg":"registration API moved"/, { timeoutMs: 15_000, stream: "stderr" });
    const resumed = await waitUntil("frames after the kill", () => bus.framesOf(id).find((t) => t > killedAt + 200), { timeoutMs: 20_000, proc: agent });
    const ms = resumed - killedAt;
    console.error(`failover: replica SIGKILLed → frames of dataflow ${id} again after ${Math.round(ms)} ms, via ${survivor.base}`);
    expect(ms).toBeLessThan(15_000);
    // The same dataflow, kept alive on the survivor; no new registration.
    expect(await keepalivesOk(survivor)).toBeGreaterThan(before);
    expect(agent.output("stderr").split("\n").filter((l) => /"msg":"registered"/.test(l))).toHaveLength(1);
    expect(agent.output("stderr")).toContain(`"to":"${survivor.base}`);
  }, 180_000);
});
