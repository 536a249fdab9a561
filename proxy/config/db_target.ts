/**
 * What `--db` names: a SQLite file (the embedded default, one process) or a PostgreSQL URL
 * `postgres://USER@HOST:PORT/DB` (several proxies on one database). The password is never in
 * argv unless the URL carries it: `--db-password-file` (first line), else `PGPASSWORD`.
 */
import { maskUrl } from "../../shared/mod.ts";
import { ConfigError } from "./config_error.ts";

/** Reads a file's text; throws when it cannot. */
type ReadText = (path: string) => string;

/** True when `db` is a PostgreSQL URL rather than a SQLite path. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** Checks a PostgreSQL `--db` URL: a host and a database name; throws ConfigError naming it (password masked). */
export function checkPostgresUrl(db: string): void {
  let url: URL;
  try {
    url = new URL(db);
  } catch {
    throw new ConfigError(`--db "${maskUrl(db)}": not a URL; expected postgres://USER@HOST:PORT/DB`);
  }
  if (!url.hostname) throw new ConfigError(`--db "${maskUrl(db)}": no host; expected postgres://USER@HOST:PORT/DB`);
  if (url.pathname.replace(/^\//, "") === "") throw new ConfigError(`--db "${maskUrl(db)}": no database name; expected postgres://USER@HOST:PORT/DB`);
}

/**
 * The password for a PostgreSQL `--db`: the first line of `passwordFile` when given, else
 * `PGPASSWORD`, else undefined (the URL's own, or none). ConfigError when the file is unreadable
 * or empty.
 */
export function dbPassword(passwordFile: string | undefined, env: Record<string, string | undefined>, readText: ReadText): string | undefined {
  if (passwordFile === undefined) return env.PGPASSWORD || undefined;
  let text: string;
  try {
    text = readText(passwordFile);
  } catch (err) {
    throw new ConfigError(`--db-password-file "${passwordFile}" could not be read: ${(err as Error).message}`);
  }
  const password = text.split(/\r?\n/)[0]!;
  if (password === "") throw new ConfigError(`--db-password-file "${passwordFile}" is empty: its first line is the password`);
  return password;
}
