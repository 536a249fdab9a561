// Starts the whole proxy in-process (real HTTP socket, real RabbitMQ) for bus tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../proxy/config/load_config.ts";
import { configureLog } from "../../proxy/log.ts";
import { type RunningProxy, startProxy } from "../../proxy/proxy.ts";
import { readText } from "../../proxy/runtime.ts";

configureLog({ level: (process.env.VSB_TEST_LOG as "debug" | undefined) ?? "silent" });

/** A running proxy on 127.0.0.1 with a temp database, and a JSON fetch helper. */
export async function startTestProxy(amqpUrl: string, extra: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "vsb-proxy-"));
  const result = loadConfig(["--listen", "127.0.0.1:0", "--db", join(dir, "proxy.db"), "--amqp-url", amqpUrl, ...extra], {}, readText);
  if (result.kind !== "run") throw new Error("expected a config");
  const proxy: RunningProxy = await startProxy(result.config);
  const base = `http://127.0.0.1:${proxy.server.port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const stop = async () => {
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { proxy, base, call, stop };
}
