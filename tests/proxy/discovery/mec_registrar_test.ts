// MecRegistrar against the real discovery routes in memory, with a fake one-shot timer: it
// retries with doubling delays while the discovery service is down (one log line per outage),
// registers its name, services and tiles, re-registers idempotently every interval, and
// deregisters on stop.
import { describe, expect, test } from "bun:test";
import { discoveryRoutes } from "../../../proxy/discovery/discovery_routes.ts";
import { MecRegistrar } from "../../../proxy/discovery/mec_registrar.ts";
import { sqliteMecStore } from "../../../proxy/discovery/sqlite_mec_store.ts";
import type { Logger } from "../../../proxy/log.ts";
import { Metrics } from "../../../proxy/metrics.ts";
import { Store } from "../../../proxy/store/store.ts";
import { harness } from "../harness.ts";

const OPERATOR = "operator-token-0123456789";

/** One-shot timers that fire only when the test says so. */
class FakeTimers {
  pending: { ms: number; fn: () => void }[] = [];
  after = (ms: number, fn: () => void) => {
    const t = { ms, fn };
    this.pending.push(t);
    return () => {
      this.pending = this.pending.filter((p) => p !== t);
    };
  };
  /** Fires the one pending timer; returns its delay. */
  fire(): number {
    expect(this.pending.length).toBe(1);
    const t = this.pending.shift()!;
    t.fn();
    return t.ms;
  }
}

function recordingLog() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, fields });
  const log = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } as unknown as Logger;
  return { log, lines };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setImmediate(r));
  expect(check()).toBe(true);
};

describe("MecRegistrar", () => {
  test("retries 1 s, 2 s, 4 s while discovery is down with one warning, then registers, re-registers every interval, deregisters on stop", async () => {
    const store = new Store(":memory:", { first: 5000, last: 5999 });
    const mecs = sqliteMecStore(store.database);
    const h = await harness({ tokens: [`operator:${OPERATOR}`], discoveryService: true, routes: [discoveryRoutes(mecs)] });
    let up = false;
    const calls: string[] = [];
    const fetchApp = (async (input: string, init?: RequestInit) => {
      calls.push(`${init?.method} ${new URL(input).pathname}`);
      if (!up) throw new TypeError("connection refused");
      return await h.app.request(input, init);
    }) as typeof fetch;
    const timers = new FakeTimers();
    const { log, lines } = recordingLog();
    const metrics = new Metrics();
    const attempts = metrics.counter("vsb_discovery_registrations_total", "test");
    const registrar = new MecRegistrar({
      url: "http://discovery.test/", token: OPERATOR, name: "mec-b", tiles: ["0313", "0320"], intervalMs: 60_000,
      services: [{ service_name: "registration-api", ip: "127.0.0.1", port: "8080", url: "http://127.0.0.1:8080" }],
      log, attempts, fetch: fetchApp, after: timers.after,
    });
    registrar.start();
    await until(() => timers.pending.length === 1);
    expect(timers.fire()).toBe(1000);
    await until(() => timers.pending.length === 1);
    expect(timers.fire()).toBe(2000);
    await until(() => timers.pending.length === 1);
    expect(timers.pending[0]!.ms).toBe(4000);
    expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual(["discovery registration failed, retrying"]);
    expect(registrar.mecId).toBeUndefined();

    up = true;
    timers.fire();
    await until(() => registrar.mecId === 1);
    expect(lines.at(-1)!.msg).toBe("registered at discovery");
    expect((await mecs.mecs()).map((m) => [m.name, m.tiles])).toEqual([["mec-b", ["0313", "0320"]]]);
    // Three intervals of 60 s: a MEC that dies without deregistering lapses after 180 s.
    expect(registrar.body().ttlSeconds).toBe(180);
    const [stored] = await mecs.mecs();
    expect(stored!.expiresAt! - stored!.updatedAt).toBe(180_000);
    await until(() => timers.pending.length === 1);
    expect(timers.pending[0]!.ms).toBe(60_000);

    // Someone deletes a tile; the next round puts the configured list back, same MEC.
    await mecs.deleteTile(1, "0320");
    timers.fire();
    await until(() => timers.pending.length === 1);
    expect((await mecs.mecs()).map((m) => [m.id, m.tiles])).toEqual([[1, ["0313", "0320"]]]);
    expect(lines.filter((l) => l.msg === "registered at discovery").length).toBe(1);
    expect(metrics.render()).toContain('vsb_discovery_registrations_total{result="failed"} 3');
    expect(metrics.render()).toContain('vsb_discovery_registrations_total{result="ok"} 2');

    await registrar.stop();
    expect(timers.pending).toEqual([]);
    expect(calls.at(-1)).toBe("DELETE /mec/1");
    expect(await mecs.mecs()).toEqual([]);
    expect(lines.at(-1)!.msg).toBe("deregistered from discovery");
  });

  test("a refused registration (wrong token) is one warning naming the status, and is retried", async () => {
    const store = new Store(":memory:", { first: 5000, last: 5999 });
    const h = await harness({ tokens: [`operator:${OPERATOR}`], discoveryService: true, routes: [discoveryRoutes(sqliteMecStore(store.database))] });
    const timers = new FakeTimers();
    const { log, lines } = recordingLog();
    const registrar = new MecRegistrar({
      url: "http://discovery.test", token: "sensor-or-wrong-token-000", name: "mec-b", tiles: ["0313"], intervalMs: 3000,
      services: [{ service_name: "registration-api", ip: "127.0.0.1", port: "8080" }], log,
      fetch: ((input: string, init?: RequestInit) => h.app.request(input, init)) as typeof fetch, after: timers.after,
    });
    registrar.start();
    await until(() => timers.pending.length === 1);
    timers.fire();
    await until(() => timers.pending.length === 1);
    timers.fire();
    await until(() => timers.pending.length === 1);
    // Backoff is capped by the interval (3 s), not 4 s.
    expect(timers.pending[0]!.ms).toBe(3000);
    const warns = lines.filter((l) => l.level === "warn");
    expect(warns.length).toBe(1);
    expect(String(warns[0]!.fields!.error)).toStartWith("answered 401: ");
    await registrar.stop();
    expect(lines.at(-1)!.level).toBe("warn"); // nothing to deregister: the last line is still the warning
  });
  test("two replicas of one MEC (same --mec-id): both are named; the one that stops takes only its own entries", async () => {
    const store = new Store(":memory:", { first: 5000, last: 5999 });
    const mecs = sqliteMecStore(store.database);
    const h = await harness({ tokens: [`operator:${OPERATOR}`], discoveryService: true, routes: [discoveryRoutes(mecs)] });
    const calls: string[] = [];
    const fetchApp = (async (input: string, init?: RequestInit) => {
      calls.push(`${init?.method} ${new URL(input).pathname}${new URL(input).search}`);
      return await h.app.request(input, init);
    }) as typeof fetch;
    const replica = (port: number) => new MecRegistrar({
      url: "http://discovery.test", token: OPERATOR, name: "motorway", tiles: ["0313"], intervalMs: 60_000,
      services: [
        { service_name: "registration-api", ip: "127.0.0.1", port: String(port), url: `http://127.0.0.1:${port}` },
        { service_name: "video-broker", ip: "127.0.0.1", port: String(port), url: `http://127.0.0.1:${port}` },
      ],
      log: recordingLog().log, fetch: fetchApp, after: new FakeTimers().after,
    });
    const a = replica(8081);
    const b = replica(8082);
    a.start();
    b.start();
    await until(() => a.mecId === 1 && b.mecId === 1);
    const urls = async () => (await mecs.mecs()).flatMap((m) => m.services.map((s) => `${s.service_name} ${s.url}`)).sort();
    expect(await urls()).toEqual([
      "registration-api http://127.0.0.1:8081", "registration-api http://127.0.0.1:8082",
      "video-broker http://127.0.0.1:8081", "video-broker http://127.0.0.1:8082",
    ]);
    await a.stop();
    expect(calls.at(-1)).toBe(`DELETE /mec/1?service_url=${encodeURIComponent("http://127.0.0.1:8081")}`);
    expect(await urls()).toEqual(["registration-api http://127.0.0.1:8082", "video-broker http://127.0.0.1:8082"]);
    await b.stop();
    expect(await mecs.mecs()).toEqual([]);
  });
});
