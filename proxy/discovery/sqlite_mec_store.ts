// deno-lint-ignore-file require-await -- bun:sqlite is synchronous; `async` keeps the promise of the
// MecStore interface and turns a thrown error into its rejection.
/**
 * The discovery tables on the registry's bun:sqlite database (the same `--db` file; the tables
 * come with schema v6, proxy/store/schema.ts). Each write is one transaction.
 */
import type { MecInfo, MecRecord, MecStore, MecUpsert, TileRow } from "./mec_store.ts";
import { mecExpiry, mergeServices, type StoredService, withoutServicesAt } from "./replica_services.ts";

/** A prepared statement, as bun:sqlite has it. */
interface SqliteStatement {
  get(...params: (string | number | null)[]): unknown;
  all(...params: (string | number | null)[]): unknown[];
  run(...params: (string | number | null)[]): { changes: number };
}

/**
 * The part of bun:sqlite's `Database` used here, typed by its shape: only proxy/store/ and
 * proxy/runtime.ts import `bun:*` (CONVENTIONS habit 4).
 */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  // deno-lint-ignore no-explicit-any
  transaction(fn: (...args: any[]) => any): (...args: any[]) => any;
}

/** A `mecs` row, the same in SQLite and PostgreSQL. */
export interface MecRow {
  id: number;
  name: string;
  info: string;
  sb_services: string;
  owner: string | null;
  registered_at: number;
  updated_at: number;
  expires_at: number | null;
}

/** A {@link MecRecord} from its row and its tiles. */
export function mecRecord(row: MecRow, tiles: string[]): MecRecord {
  return {
    id: row.id, name: row.name, info: JSON.parse(row.info) as MecInfo, services: JSON.parse(row.sb_services),
    tiles, owner: row.owner, registeredAt: row.registered_at, updatedAt: row.updated_at, expiresAt: row.expires_at ?? null,
  };
}

/** The SQLite {@link MecStore} on `db` (a Store's `database`). */
export function sqliteMecStore(db: SqliteDatabase): MecStore {
  const q = {
    byName: db.prepare("SELECT id, sb_services FROM mecs WHERE name = ?"),
    servicesOf: db.prepare("SELECT sb_services FROM mecs WHERE id = ?"),
    setServices: db.prepare("UPDATE mecs SET sb_services = ? WHERE id = ?"),
    insert: db.prepare(`INSERT INTO mecs (name, info, sb_services, owner, registered_at, updated_at, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
    update: db.prepare("UPDATE mecs SET info = ?, sb_services = ?, owner = ?, updated_at = ?, expires_at = ? WHERE id = ?"),
    exists: db.prepare("SELECT 1 AS one FROM mecs WHERE id = ?"),
    all: db.prepare("SELECT * FROM mecs ORDER BY id"),
    one: db.prepare("SELECT * FROM mecs WHERE id = ?"),
    tilesOf: db.prepare("SELECT tile FROM mec_tiles WHERE mec_id = ? ORDER BY rowid"),
    clearTiles: db.prepare("DELETE FROM mec_tiles WHERE mec_id = ?"),
    addTile: db.prepare("INSERT OR IGNORE INTO mec_tiles (mec_id, tile) VALUES (?, ?)"),
    deleteTile: db.prepare("DELETE FROM mec_tiles WHERE mec_id = ? AND tile = ?"),
    deleteMec: db.prepare("DELETE FROM mecs WHERE id = ?"),
    // Both ways: the tile is a prefix of the key, or the key is a prefix of the tile.
    matches: db.prepare(`SELECT mec_id AS mecId, tile FROM mec_tiles
      WHERE substr(?1, 1, length(tile)) = tile OR substr(tile, 1, length(?1)) = ?1`),
  };
  const exists = (id: number) => q.exists.get(id) !== null;
  const tilesOf = (id: number) => (q.tilesOf.all(id) as { tile: string }[]).map((t) => t.tile);

  return {
    upsertMec: async (m: MecUpsert) => db.transaction(() => {
      const found = q.byName.get(m.name) as { id: number; sb_services: string } | null;
      const info = JSON.stringify(m.info);
      const stored = found && m.mergeServices ? JSON.parse(found.sb_services) as StoredService[] : [];
      const merged = m.mergeServices ? mergeServices(stored, m.services, m.now, m.expiresAt) : m.services;
      const expiresAt = m.mergeServices ? mecExpiry(merged, m.expiresAt) : m.expiresAt;
      const services = JSON.stringify(merged);
      let id: number;
      if (found) {
        id = found.id;
        q.update.run(info, services, m.owner, m.now, expiresAt, id);
      } else {
        id = (q.insert.get(m.name, info, services, m.owner, m.now, m.now, expiresAt) as { id: number }).id;
      }
      if (m.tiles) {
        q.clearTiles.run(id);
        for (const tile of m.tiles) q.addTile.run(id, tile);
      }
      return { id, created: !found };
    })(),
    mecs: async (ids) => {
      const rows = ids === undefined ? (q.all.all() as MecRow[]) : ids.flatMap((id) => (q.one.get(id) as MecRow | null) ?? []);
      return rows.sort((a, b) => a.id - b.id).map((row) => mecRecord(row, tilesOf(row.id)));
    },
    deleteMec: async (id) => db.transaction(() => {
      q.clearTiles.run(id);
      return q.deleteMec.run(id).changes > 0;
    })(),
    deleteServicesAt: async (id, url) => db.transaction(() => {
      const row = q.servicesOf.get(id) as { sb_services: string } | null;
      if (!row) return "no-mec" as const;
      const rest = withoutServicesAt(JSON.parse(row.sb_services) as StoredService[], url);
      if (rest) {
        q.setServices.run(JSON.stringify(rest), id);
        return "kept" as const;
      }
      q.clearTiles.run(id);
      q.deleteMec.run(id);
      return "deleted" as const;
    })(),
    addTile: async (id, tile) => db.transaction(() => {
      if (!exists(id)) return "no-mec" as const;
      return q.addTile.run(id, tile).changes > 0 ? "added" as const : "present" as const;
    })(),
    deleteTile: async (id, tile) => db.transaction(() => {
      if (!exists(id)) return "no-mec" as const;
      return q.deleteTile.run(id, tile).changes > 0 ? "deleted" as const : "absent" as const;
    })(),
    tileMatches: async (quadkey) => q.matches.all(quadkey) as TileRow[],
  };
}
