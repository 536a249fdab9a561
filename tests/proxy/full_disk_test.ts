// A real full file system under the real proxy: --db on a tiny tmpfs that is then filled.
// Registrations answer 503 (never 500), /ready's store check goes false, and once space is
// freed it comes back by itself. Needs root for `mount -t tmpfs`; skipped with the reason if not.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { configureLog } from "../../proxy/log.ts";
import { type RunningProxy, startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";
import { freePort } from "../support/ports.ts";
import { sensor2022 } from "./sensor_body.ts";

configureLog({ level: (process.env.VSB_TEST_LOG as "debug" | undefined) ?? "silent" });

const mnt = mkdtempSync(join(tmpdir(), "vsb-full-"));
const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
const skipReason = mounted.status === 0 ? "" : `mount -t tmpfs not permitted here: ${String(mounted.stderr).trim()}`;
if (skipReason) console.log(`full_disk_test skipped: ${skipReason}`);

/** Unmounts (after the proxy closed its database) and removes the mount point. */
function unmount(): void {
  if (!skipReason) spawnSync("umount", ["--lazy", mnt]) // lazy: bun:sqlite may hold the WAL a moment after close;
  rmSync(mnt, { recursive: true, force: true });
}
if (skipReason) unmount();

/** Writes to `path` until the file system says ENOSPC. */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(Boolean(skipReason))("--db on a full file system", () => {
  let proxy: RunningProxy;
  let base: string;
  beforeAll(async () => {
    const amqpPort = await freePort();
    const result = loadConfig(["--listen", "127.0.0.1:0", "--db", join(mnt, "p.db"), "--amqp-url", `amqp://guest:guest@127.0.0.1:${amqpPort}`], {}, readText);
    if (result.kind !== "run") throw new Error("expected a config");
    proxy = await startProxy(result.config);
    base = `http://127.0.0.1:${proxy.server.port}`;
  });
  afterAll(async () => {
    await proxy?.stop();
    unmount();
  });

  test("503 while full, never 500; /ready store check false, then true again once space is freed", async () => {
    const post = () => fetch(`${base}/dataflows`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(sensor2022()) });
    expect((await post()).status).toBe(201);
    const filler = join(mnt, "filler");
    fill(filler);
    let refused: Response | undefined;
    for (let i = 0; i < 2000 && !refused; i++) {
      const res = await post();
      expect([201, 503]).toContain(res.status);
      if (res.status === 503) refused = res;
    }
    expect(refused).toBeDefined();
    expect((await refused!.json()).error).toMatch(/could not be written/);
    const ready = await (await fetch(`${base}/ready`)).json();
    expect(ready.checks.store).toBe(false);
    rmSync(filler);
    const end = Date.now() + 10_000;
    while ((await (await fetch(`${base}/ready`)).json()).checks.store !== true) {
      if (Date.now() > end) throw new Error("store check of /ready did not recover");
      await Bun.sleep(50);
    }
    expect((await post()).status).toBe(201);
  }, 60_000);
});
