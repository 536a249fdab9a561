/**
 * Opens the registration store `--db` names: PostgreSQL for a `postgres://` URL (a pool, with the
 * password from --db-password-file or PGPASSWORD), else the SQLite file. Either comes back behind
 * the one asynchronous {@link DataflowStore} interface the registry writes through.
 */
import { isPostgresUrl } from "../config/db_target.ts";
import type { PortRange } from "./port_pool.ts";
import { PgStore } from "./pg_store.ts";
import { Store } from "./store.ts";
import { type DataflowStore, sqliteDataflowStore } from "./store_api.ts";

/** Options of {@link openDataflowStore}. */
export interface OpenStoreOptions {
  /** The PostgreSQL password when the URL has none. */
  password?: string;
  /** Opens the SQLite file [new Store(path, ports)]; tests give a Store whose writes fail. */
  openSqlite?: (path: string, ports: PortRange) => Store;
}

/** Connections in a PostgreSQL store's pool (documented with `--db`). */
export const PG_POOL_SIZE = 10;

/** The store `db` names; rejects (or throws) when it cannot be opened, migrated or written. */
export async function openDataflowStore(db: string, ports: PortRange, options: OpenStoreOptions = {}): Promise<DataflowStore> {
  if (isPostgresUrl(db)) return await PgStore.open(db, ports, { password: options.password, max: PG_POOL_SIZE });
  return sqliteDataflowStore((options.openSqlite ?? ((path, range) => new Store(path, range)))(db, ports));
}
