// DemandLeaseHolder against the proxy's real API (in-memory registry served over HTTP): it
// takes a lease, renews it every third of its TTL, takes a new one when the proxy forgot it,
// reports renewal failures and keeps trying, and gives the lease back on release.
import { afterAll, describe, expect, test } from "bun:test";
import { DemandLeaseHolder } from "../../../proxy/consumer/demand_lease.ts";
import { serve } from "../../../proxy/runtime.ts";
import { harness } from "../harness.ts";
import { sensor2022 } from "../sensor_body.ts";
import { waitUntil } from "../../support/wait.ts";

const stops: (() => unknown)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

async function setUp() {
  const h = await harness();
  const calls: string[] = [];
  let up = true;
  const server = serve({
    hostname: "127.0.0.1", port: 0,
    fetch: (req) => {
      if (!up) return new Response("down", { status: 503 });
      calls.push(`${req.method} ${new URL(req.url).pathname}`);
      return h.app.fetch(req);
    },
  });
  stops.push(() => server.stop());
  const reg = await (await h.json("POST", "/dataflows", sensor2022())).json();
  return { h, calls, reg, url: `http://127.0.0.1:${server.port}`, setUp: (v: boolean) => (up = v) };
}

describe("DemandLeaseHolder", () => {
  test("renews every third of the TTL, re-takes a forgotten lease, reports failures, releases", async () => {
    const t = await setUp();
    const errors: string[] = [];
    const holder = new DemandLeaseHolder(t.url, { dataflowId: t.reg.id, ttlSeconds: 3 }, { onError: (e) => errors.push(e.message) });
    const first = await holder.start();
    stops.push(() => holder.release());
    expect(t.h.registry.listDemands().map((d) => d.id)).toEqual([first.id]);
    expect((await (await t.h.json("PUT", `/dataflows/${t.reg.id}`)).json()).send).toBe(true);

    await t.h.clock.advance(2000); // a renewal pushes the expiry on from the proxy's now
    await waitUntil("renewal", () => t.calls.includes(`PUT /demands/${first.id}`), { timeoutMs: 3000 });
    await waitUntil("renewed lease", () => holder.lease && holder.lease.expiresAt !== first.expiresAt, { timeoutMs: 1000 });
    expect(Date.parse(holder.lease!.expiresAt)).toBeGreaterThan(Date.parse(first.expiresAt));
    expect(holder.lease!.id).toBe(first.id);

    // The proxy forgot the lease (restarted, or it expired): the next renewal takes a new one.
    await t.h.json("DELETE", `/demands/${first.id}`);
    await waitUntil("new lease", () => holder.lease && holder.lease.id !== first.id, { timeoutMs: 3000 });
    const second = holder.lease!;
    expect(t.h.registry.listDemands().map((d) => d.id)).toEqual([second.id]);

    // The API is away for a while: failures are reported, renewing goes on.
    t.setUp(false);
    await waitUntil("a failure reported", () => errors.length > 0, { timeoutMs: 3000 });
    expect(errors[0]).toContain("503");
    t.setUp(true);
    const before = t.calls.filter((c) => c === `PUT /demands/${second.id}`).length;
    await waitUntil("renewing again", () => t.calls.filter((c) => c === `PUT /demands/${second.id}`).length > before, { timeoutMs: 3000 });

    await holder.release();
    expect(t.calls.at(-1)).toBe(`DELETE /demands/${second.id}`);
    expect(t.h.registry.listDemands()).toEqual([]);
    const calls = t.calls.length;
    await Bun.sleep(1200);
    expect(t.calls.length).toBe(calls); // no renewal after release
  }, 20_000);
});
