// A real PostgreSQL (Debian's postgresql 15) for tests: `initdb` and `postgres` in a temp dir,
// on a free 127.0.0.1 port, run as the `postgres` user when the tests run as root (PostgreSQL
// refuses to run as root) and as the current user otherwise. A role `vsb` with a password and
// a database `vsb` are made at start; `url` carries them. Stopped by pid at the end of the run.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { onCleanup, type Proc, spawnTracked } from "./procs.ts";
import { tempDir } from "./temp_dir.ts";
import { canConnect, waitUntil } from "./wait.ts";

/** A running PostgreSQL. */
export interface Postgres {
  /** postgres://vsb:PASSWORD@127.0.0.1:PORT/vsb */
  readonly url: string;
  readonly port: number;
  readonly password: string;
  readonly proc: Proc;
  /** A fresh empty database on this server (for a test that needs its own tables); its URL. */
  createDatabase(name: string): string;
  /** Stops the server (SIGTERM, fast shutdown) and waits for its exit. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>;
}

/** The bin directory of the newest installed PostgreSQL, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

/** Whether a PostgreSQL server can be started here. */
export function hasPostgres(): boolean {
  return postgresBinDir() !== undefined && (process.getuid?.() !== 0 || spawnSync("id", ["-u", "postgres"]).status === 0);
}

const asRoot = () => process.getuid?.() === 0;

/** argv that runs `command` as the server's user. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return asRoot() ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

/** Starts a PostgreSQL in a temp dir; see the file comment. */
export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed (apt-get install postgresql)");
  const dir = tempDir("vsb-pg-");
  const data = join(dir.path, "data");
  const socketDir = join(dir.path, "sock");
  const password = `pw-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const pwFile = join(dir.path, "pw");
  writeFileSync(pwFile, `${password}\n`);
  execFileSync("mkdir", ["-p", data, socketDir]);
  if (asRoot()) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    for (const path of [dir.path, data, socketDir, pwFile]) chownSync(path, uid, gid);
    chmodSync(dir.path, 0o700);
  }
  const [initCmd, initArgs] = asServerUser(join(bin, "initdb"), [
    "-D", data, "-U", "vsb", "--pwfile", pwFile, "-A", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale", "C",
  ]);
  execFileSync(initCmd, initArgs, { stdio: ["ignore", "ignore", "pipe"] });
  const port = await freePort();
  let proc!: Proc;
  const pg: Postgres = {
    url: `postgres://vsb:${password}@127.0.0.1:${port}/vsb`,
    port,
    password,
    get proc() {
      return proc;
    },
    createDatabase: (name) => {
      execFileSync(join(bin, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "vsb", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", `CREATE DATABASE "${name}"`], {
        env: { ...process.env, PGPASSWORD: password }, stdio: ["ignore", "ignore", "pipe"],
      });
      return `postgres://vsb:${password}@127.0.0.1:${port}/${name}`;
    },
    start: async () => {
      const [cmd, args] = asServerUser(join(bin, "postgres"), [
        "-D", data, "-p", String(port), "-k", socketDir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
        "-c", "max_connections=200", "-c", "log_min_messages=warning",
      ]);
      proc = spawnTracked(cmd, args, { name: "postgres", infrastructure: true });
      await waitUntil("PostgreSQL listening", () => canConnect(port), { timeoutMs: 30_000, proc });
      // Accepting connections (not only listening: the start-up checkpoint may still run).
      await waitUntil("PostgreSQL accepting connections", () => spawnSync(join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port)]).status === 0, { timeoutMs: 30_000, proc });
    },
    stop: async () => {
      await proc.stop();
    },
  };
  await pg.start();
  pg.createDatabase("vsb");
  onCleanup(async () => {
    await proc.stop();
    dir.remove();
  });
  return pg;
}

let shared: Promise<Postgres> | undefined;

/** One PostgreSQL for the whole test run (each test makes its own database with createDatabase()). */
export function getPostgres(): Promise<Postgres> {
  shared ??= startPostgres();
  return shared;
}
