// A store whose writes fail (disk full, I/O error) under the real proxy (startProxy, HTTP socket):
// requests answer 503 with one-line JSON, memory is unchanged, timers do not throw, /ready is 503
// and comes back by itself once writes succeed again; failures are counted in /metrics.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { configureLog } from "../../proxy/log.ts";
import { type RunningProxy, startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";
import { Store } from "../../proxy/store/store.ts";
import { freePort } from "../support/ports.ts";
import { sensor2022 } from "./sensor_body.ts";

configureLog({ level: (process.env.VSB_TEST_LOG as "debug" | undefined) ?? "silent" });

/** A real Store whose write path throws SQLITE_FULL while `failing` is set. */
class FailingStore extends Store {
  failing = false;
  #check(): void {
    if (this.failing) throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
  }
  override insertDataflow(...a: Parameters<Store["insertDataflow"]>) { this.#check(); return super.insertDataflow(...a); }
  override updateDataflow(...a: Parameters<Store["updateDataflow"]>) { this.#check(); return super.updateDataflow(...a); }
  override endDataflow(...a: Parameters<Store["endDataflow"]>) { this.#check(); return super.endDataflow(...a); }
  override touchMany(...a: Parameters<Store["touchMany"]>) { this.#check(); return super.touchMany(...a); }
  override insertDemand(...a: Parameters<Store["insertDemand"]>) { this.#check(); return super.insertDemand(...a); }
  override probe(...a: Parameters<Store["probe"]>) { this.#check(); return super.probe(...a); }
  override pruneEnded(...a: Parameters<Store["pruneEnded"]>) { this.#check(); return super.pruneEnded(...a); }
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function start() {
  const dir = mkdtempSync(join(tmpdir(), "vsb-faults-"));
  const amqpPort = await freePort(); // no broker: the API must still answer
  const result = loadConfig(["--listen", "127.0.0.1:0", "--db", join(dir, "p.db"), "--amqp-url", `amqp://guest:guest@127.0.0.1:${amqpPort}`], {}, readText);
  if (result.kind !== "run") throw new Error("expected a config");
  let store!: FailingStore;
  const proxy: RunningProxy = await startProxy(result.config, { openStore: (path, ports) => (store = new FailingStore(path, ports)) });
  cleanup.push(async () => {
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${proxy.server.port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method, headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text };
  };
  return { proxy, store, call };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("store write failures under the real proxy", () => {
  test("503 with one-line JSON, memory unchanged, /ready 503 then back by itself, counted in /metrics", async () => {
    const { store, call } = await start();
    const first = await call("POST", "/dataflows", sensor2022());
    expect(first.status).toBe(201);
    const id = first.body.id as number;

    store.failing = true;
    const refused = await call("POST", "/dataflows", sensor2022());
    expect(refused.status).toBe(503);
    expect(refused.text.includes("\n")).toBe(false);
    expect(refused.body.error).toMatch(/could not be written \(dataflow_insert\): database or disk is full/);
    const ended = await call("DELETE", `/dataflows/${id}`);
    expect(ended.status).toBe(503);
    // Nothing changed in memory: still exactly the one active dataflow.
    const listed = await call("GET", "/dataflows?active=true");
    expect(listed.body.map((f: { id: number }) => f.id)).toEqual([id]);
    expect((await call("GET", `/dataflows/${id}`)).status).toBe(200);
    // No broker in this test, so /ready is 503 anyway: its store check is what must say false.
    const notReady = await call("GET", "/ready");
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.store).toBe(false);
    const metrics = (await call("GET", "/metrics")).text;
    expect(metrics).toMatch(/vsb_store_errors_total\{op="dataflow_insert"\} 1/);
    expect(metrics).toMatch(/vsb_store_healthy 0/);
    // Timers (flush, sweep probe) keep failing without throwing; the server still answers.
    expect((await call("GET", "/health")).status).toBe(200);

    store.failing = false;
    // The sweep's probe write succeeds: ready again without any request writing.
    await until("the store check of /ready to be true again", async () => (await call("GET", "/ready")).body.checks.store === true);
    const after = await call("DELETE", `/dataflows/${id}`);
    expect(after.status).toBeLessThan(300);
    expect((await call("GET", "/metrics")).text).toMatch(/vsb_store_healthy 1/);
  }, 30_000);
});
