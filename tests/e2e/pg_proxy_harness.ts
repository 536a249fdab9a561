// Real `bun proxy/main.ts` processes on a real PostgreSQL (tests/support/postgres.ts) and a real
// RabbitMQ: each proxy gets `--db postgres://vsb@127.0.0.1:PORT/DB` (no password in argv; it
// comes from PGPASSWORD or --db-password-file) and its own port; stopped by pid.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, freeUdpPortRange } from "../support/ports.ts";
import type { Postgres } from "../support/postgres.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitForHttp } from "../support/wait.ts";

const root = new URL("../..", import.meta.url).pathname;

/** `pg`'s database `name` as a URL without the password. */
export function pgUrlOf(pg: Postgres, name: string): string {
  return `postgres://vsb@127.0.0.1:${pg.port}/${name}`;
}

/** A running proxy process. */
export interface PgProxy {
  base: string;
  port: number;
  proc: Proc;
  /** Its working directory (where a SQLite default would appear). */
  cwd: string;
  /** JSON request to this proxy. */
  call(method: string, path: string, body?: unknown): Promise<Response>;
  stop(): Promise<void>;
}

/** How the password reaches the proxy. */
export type PasswordVia = "env" | "file";

/** Starts a proxy on `db`; resolves once /ready answers 200 (store and bus up). */
export async function startPgProxy(pg: Postgres, db: string, amqpUrl: string, options: { via?: PasswordVia; port?: number; extra?: string[] } = {}): Promise<PgProxy> {
  const dir = tempDir("vsb-pgproxy-");
  const port = options.port ?? await freePort();
  const udpBase = await freeUdpPortRange(4);
  const via = options.via ?? "env";
  const pwFile = join(dir.path, "pw");
  writeFileSync(pwFile, `${pg.password}\n`, { mode: 0o600 });
  const proc = spawnTracked(process.execPath, [
    join(root, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", db, "--amqp-url", amqpUrl,
    "--udp-forward-host", "127.0.0.1", "--udp-ports", `${udpBase}-${udpBase + 3}`,
    ...(options.extra?.includes("--keepalive-seconds") ? [] : ["--keepalive-seconds", "60"]),
    "--log-level", "info", ...(via === "file" ? ["--db-password-file", pwFile] : []), ...(options.extra ?? []),
  ], { cwd: dir.path, name: `vsb-proxy:${port}`, env: { PGPASSWORD: via === "env" ? pg.password : undefined }, keepLines: 5000 });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/ready`, { timeoutMs: 30_000, proc });
  return {
    base, port, proc, cwd: dir.path,
    call: (method, path, body) => fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    async stop() {
      await proc.stop();
      dir.remove();
    },
  };
}
