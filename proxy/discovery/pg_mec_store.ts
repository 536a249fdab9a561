/**
 * The discovery tables on PostgreSQL, in the registry's database (migration 2 of
 * proxy/store/pg_schema.ts), through the pool of the PostgreSQL store (`PgStore.sql`). Several
 * discovery replicas may share it: a MEC's name is unique, so two registering at once end in
 * one row (ON CONFLICT), and each write is one transaction.
 */
import type postgres from "postgres";
import type { MecStore, MecUpsert, TileRow } from "./mec_store.ts";
import { mecExpiry, mergeServices, type StoredService, withoutServicesAt } from "./replica_services.ts";
import { mecRecord, type MecRow } from "./sqlite_mec_store.ts";

type Sql = postgres.Sql<Record<string, never>>;

/** The PostgreSQL {@link MecStore} on `sql` (a PgStore's pool). */
export function pgMecStore(sql: Sql): MecStore {
  const tilesOf = async (ids: number[]) => {
    const rows = ids.length === 0 ? [] : await sql`SELECT mec_id, tile FROM mec_tiles WHERE mec_id IN ${sql(ids)} ORDER BY seq`;
    const out = new Map<number, string[]>();
    for (const r of rows as unknown as { mec_id: number; tile: string }[]) out.set(r.mec_id, [...(out.get(r.mec_id) ?? []), r.tile]);
    return out;
  };
  return {
    upsertMec: async (m: MecUpsert) => await sql.begin(async (tx) => {
      const info = JSON.stringify(m.info);
      let merged: StoredService[] = m.services;
      if (m.mergeServices) {
        // Replicas of one MEC post at once: one at a time per name, even before its row exists.
        await tx`SELECT pg_advisory_xact_lock(hashtext(${`vsb.mec:${m.name}`}))`;
        const [row] = await tx`SELECT sb_services FROM mecs WHERE name = ${m.name}`;
        merged = mergeServices(row ? JSON.parse((row as unknown as MecRow).sb_services) : [], m.services, m.now, m.expiresAt);
      }
      const expiresAt = m.mergeServices ? mecExpiry(merged, m.expiresAt) : m.expiresAt;
      const services = JSON.stringify(merged);
      // xmax = 0 only on a row this statement inserted (PostgreSQL's way to tell insert from update).
      const [row] = await tx`INSERT INTO mecs (name, info, sb_services, owner, registered_at, updated_at, expires_at)
        VALUES (${m.name}, ${info}, ${services}, ${m.owner}, ${m.now}, ${m.now}, ${expiresAt})
        ON CONFLICT (name) DO UPDATE SET info = EXCLUDED.info, sb_services = EXCLUDED.sb_services,
          owner = EXCLUDED.owner, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at
        RETURNING id, (xmax = 0) AS created`;
      const { id, created } = row as unknown as { id: number; created: boolean };
      if (m.tiles) {
        await tx`DELETE FROM mec_tiles WHERE mec_id = ${id}`;
        for (const tile of m.tiles) await tx`INSERT INTO mec_tiles (mec_id, tile) VALUES (${id}, ${tile}) ON CONFLICT DO NOTHING`;
      }
      return { id, created };
    }) as { id: number; created: boolean },
    mecs: async (ids) => {
      const rows = ids === undefined
        ? await sql`SELECT * FROM mecs ORDER BY id`
        : ids.length === 0 ? [] : await sql`SELECT * FROM mecs WHERE id IN ${sql([...ids])} ORDER BY id`;
      const typed = rows as unknown as MecRow[];
      const tiles = await tilesOf(typed.map((r) => r.id));
      return typed.map((r) => mecRecord(r, tiles.get(r.id) ?? []));
    },
    deleteMec: async (id) => (await sql`DELETE FROM mecs WHERE id = ${id}`).count > 0,
    deleteServicesAt: async (id, url) => await sql.begin(async (tx) => {
      const [row] = await tx`SELECT sb_services FROM mecs WHERE id = ${id} FOR UPDATE`;
      if (!row) return "no-mec" as const;
      const rest = withoutServicesAt(JSON.parse((row as unknown as MecRow).sb_services) as StoredService[], url);
      if (rest) {
        await tx`UPDATE mecs SET sb_services = ${JSON.stringify(rest)} WHERE id = ${id}`;
        return "kept" as const;
      }
      await tx`DELETE FROM mecs WHERE id = ${id}`;
      return "deleted" as const;
    }) as "kept" | "deleted" | "no-mec",
    addTile: async (id, tile) => await sql.begin(async (tx) => {
      const [mec] = await tx`SELECT id FROM mecs WHERE id = ${id} FOR UPDATE`;
      if (!mec) return "no-mec" as const;
      const added = await tx`INSERT INTO mec_tiles (mec_id, tile) VALUES (${id}, ${tile}) ON CONFLICT DO NOTHING`;
      return added.count > 0 ? "added" as const : "present" as const;
    }) as "added" | "present" | "no-mec",
    deleteTile: async (id, tile) => await sql.begin(async (tx) => {
      const [mec] = await tx`SELECT id FROM mecs WHERE id = ${id}`;
      if (!mec) return "no-mec" as const;
      const deleted = await tx`DELETE FROM mec_tiles WHERE mec_id = ${id} AND tile = ${tile}`;
      return deleted.count > 0 ? "deleted" as const : "absent" as const;
    }) as "deleted" | "absent" | "no-mec",
    tileMatches: async (quadkey) => {
      const rows = await sql`SELECT mec_id, tile FROM mec_tiles
        WHERE left(${quadkey}, length(tile)) = tile OR left(tile, length(${quadkey})) = ${quadkey}`;
      return (rows as unknown as { mec_id: number; tile: string }[]).map((r): TileRow => ({ mecId: r.mec_id, tile: r.tile }));
    },
  };
}
