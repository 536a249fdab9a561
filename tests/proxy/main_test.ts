// The real `bun proxy/main.ts` process: CLI behaviour, start-up, /health, clean stop.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPTIONS } from "../../proxy/config/options.ts";
import { PATH, ROUTE } from "../../shared/mod.ts";
import { sensor2022 } from "./sensor_body.ts";
import { freePort, isTcpPortFree } from "../support/ports.ts";
import { spawnTracked } from "../support/procs.ts";
import { waitForHttp } from "../support/wait.ts";

const root = new URL("../..", import.meta.url).pathname;
const bun = process.execPath;
const proxy = (args: string[], env: Record<string, string | undefined> = {}) =>
  spawnTracked(bun, [join(root, "proxy/main.ts"), ...args], { cwd: root, env: { VSB_LISTEN: undefined, ...env }, name: "vsb-proxy" });

describe("bun proxy/main.ts", () => {
  test("--help prints every option and exits 0", async () => {
    const p = proxy(["--help"]);
    expect((await p.exited).code).toBe(0);
    for (const o of OPTIONS) expect(p.output("stdout")).toContain(o.flag);
  }, 30_000);

  test("an unknown flag or invalid value exits 2 with one line naming the flag or env var", async () => {
    const bad = proxy(["--keepalive-seconds", "soon"]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.output("stderr").trim()).toBe('vsb-proxy: flag --keepalive-seconds "soon": must be a number');
    const unknown = proxy(["--frobnicate"]);
    expect((await unknown.exited).code).toBe(2);
    expect(unknown.output("stderr").trim()).toBe('vsb-proxy: unknown argument "--frobnicate" (see --help)');
    const badEnv = proxy([], { VSB_LISTEN: "127.0.0.1:99999" });
    expect((await badEnv.exited).code).toBe(2);
    expect(badEnv.output("stderr").trim().split("\n")).toHaveLength(1);
    expect(badEnv.output("stderr")).toContain('env VSB_LISTEN "127.0.0.1:99999"');
  }, 30_000);

  test("a non-loopback --listen without auth exits 2 with one line naming --api-token, --jwks-url and --insecure-open", async () => {
    const port = await freePort();
    const open = proxy(["--listen", `0.0.0.0:${port}`, "--log-level", "silent"]);
    expect((await open.exited).code).toBe(2);
    const lines = open.output("stderr").trim().split("\n");
    expect(lines).toEqual([`vsb-proxy: --listen "0.0.0.0:${port}" is not loopback and no auth is configured: ` +
      "set --api-token (or --api-token-file) or --jwks-url, or pass --insecure-open to serve an open API on purpose"]);
    // Refused before anything is bound: the port is still free.
    expect(await isTcpPortFree(port)).toBe(true);
    const checked = proxy(["--check"], { VSB_LISTEN: `[::]:${port}` });
    expect((await checked.exited).code).toBe(2);
    expect(checked.output("stderr")).toContain("--insecure-open");
  }, 30_000);

  test("a store it cannot open or an address in use exits 1 with one line naming --db or --listen", async () => {
    const badDb = proxy(["--listen", "127.0.0.1:0", "--db", "/nonexistent-dir/vsb.db", "--log-level", "silent"]);
    expect((await badDb.exited).code).toBe(1);
    expect(badDb.output("stderr").trim()).toBe('vsb-proxy: --db "/nonexistent-dir/vsb.db": the store could not be opened: unable to open database file');
    const dir = mkdtempSync(join(tmpdir(), "vsb-main-"));
    const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("taken") });
    try {
      const busy = proxy(["--listen", `127.0.0.1:${taken.port}`, "--db", join(dir, "p.db"), "--log-level", "silent"]);
      expect((await busy.exited).code).toBe(1);
      const lines = busy.output("stderr").trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toStartWith(`vsb-proxy: --listen "127.0.0.1:${taken.port}": could not listen:`);
    } finally {
      taken.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("starts, answers /health with the broker absent, logs JSON lines, and stops on SIGINT", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-main-"));
    try {
      const port = await freePort();
      const amqpPort = await freePort(); // nothing listens there: the proxy must still serve
      const p = proxy(["--listen", `127.0.0.1:${port}`, "--db", join(dir, "p.db"), "--amqp-url", `amqp://guest:guest@127.0.0.1:${amqpPort}`]);
      const res = await waitForHttp(`http://127.0.0.1:${port}/health`, { timeoutMs: 15_000 });
      expect(await res.json()).toEqual({ status: "ok" });
      expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(503);
      await p.waitForLine(/"msg":"proxy started"/, { stream: "stderr" });
      const status = await p.stop();
      expect(status.code).toBe(0);
      for (const line of p.output("stderr").trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("killed with SIGKILL and started again on the same --db: dataflows, demands and the id sequence survive", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-main-"));
    try {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const args = ["--listen", `127.0.0.1:${port}`, "--db", join(dir, "p.db"), "--amqp-url", `amqp://127.0.0.1:${await freePort()}`, "--log-level", "warn"];
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${base}${path}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
      };
      const first = proxy(args);
      await waitForHttp(`${base}${ROUTE.health}`, { timeoutMs: 15_000, proc: first });
      const a = await call("POST", ROUTE.dataflows, sensor2022());
      const b = await call("POST", ROUTE.dataflows, sensor2022());
      expect([a.status, b.status]).toEqual([201, 201]);
      const lease = await call("POST", ROUTE.demands, { dataflowId: a.body.id, ttlSeconds: 600 });
      expect(lease.status).toBe(201);
      expect((await call("DELETE", PATH.dataflow(b.body.id))).status).toBe(204);
      first.child.kill("SIGKILL");
      expect((await first.exited).signal).toBe("SIGKILL");

      const second = proxy(args);
      await waitForHttp(`${base}${ROUTE.health}`, { timeoutMs: 15_000, proc: second });
      const kept = await call("PUT", PATH.dataflow(a.body.id));
      expect(kept).toEqual({ status: 200, body: expect.objectContaining({ id: a.body.id, send: true }) });
      expect((await call("GET", PATH.demand(lease.body.id))).body).toMatchObject({ id: lease.body.id, dataflowId: a.body.id });
      expect((await call("GET", PATH.dataflow(b.body.id))).body).toMatchObject({ id: b.body.id, active: false });
      const c = await call("POST", ROUTE.dataflows, sensor2022());
      expect(c.body.id).toBe(b.body.id + 1); // never reused, even the deleted newest one
      expect(c.body.ingest.token).not.toBe(a.body.ingest.token);
      await second.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
