/**
 * The discovery service's tables (`mecs`, `mec_tiles`) behind one asynchronous interface, so
 * that it runs on the embedded SQLite store (sqlite_mec_store.ts) and on PostgreSQL
 * (pg_mec_store.ts) alike, beside the registry's tables in the same database. One contract
 * test suite (tests/proxy/discovery/mec_store_test.ts) runs against both.
 */
import type { RegisteredService } from "../../shared/mod.ts";
import type { StoredService } from "./replica_services.ts";

/** What a MEC says of itself besides its services and tiles (5GMETA's fields, kept as sent). */
export interface MecInfo {
  lat?: string;
  lng?: string;
  organization?: string;
  resources?: Record<string, unknown>;
  props?: Record<string, unknown>;
}

/** One registered MEC with its tiles (in the order they were added). */
export interface MecRecord {
  id: number;
  name: string;
  info: MecInfo;
  /** As stored: entries registered with a ttl carry their own `expiresAt`. */
  services: StoredService[];
  tiles: string[];
  /** The identity that registered (or last re-registered) it. */
  owner: string | null;
  registeredAt: number;
  updatedAt: number;
  /** When the registration lapses unless renewed (ms); null: it never does. */
  expiresAt: number | null;
}

/** A `POST /mec`: created, or updated when a MEC of that name exists. */
export interface MecUpsert {
  name: string;
  info: MecInfo;
  services: RegisteredService[];
  /** Given: the MEC's whole tile list from now on; undefined: its tiles stay. */
  tiles?: string[];
  owner: string | null;
  now: number;
  /** Lapses at this time unless registered again (ms); null: never. */
  expiresAt: number | null;
  /**
   * True: `services` join the stored entries of other addresses instead of replacing them,
   * and the MEC lapses with its latest entry (replicas of one MEC, replica_services.ts).
   */
  mergeServices?: boolean;
}

/** A tile row: MEC `mecId` serves `tile`. */
export interface TileRow {
  mecId: number;
  tile: string;
}

/** What the discovery routes need from a store; every write is one transaction and throws on failure. */
export interface MecStore {
  upsertMec(mec: MecUpsert): Promise<{ id: number; created: boolean }>;
  /** The MECs `ids` (all when undefined), in id order; unknown ids are left out. */
  mecs(ids?: readonly number[]): Promise<MecRecord[]>;
  /** Deletes a MEC and its tiles; false when there was none. */
  deleteMec(id: number): Promise<boolean>;
  /**
   * A replica leaving: removes the MEC's service entries at `url`; the MEC itself (with its
   * tiles) goes when no entry is left.
   */
  deleteServicesAt(id: number, url: string): Promise<"kept" | "deleted" | "no-mec">;
  addTile(id: number, tile: string): Promise<"added" | "present" | "no-mec">;
  deleteTile(id: number, tile: string): Promise<"deleted" | "absent" | "no-mec">;
  /** Tiles that are a prefix of `quadkey` or that `quadkey` is a prefix of (5GMETA's two-way match). */
  tileMatches(quadkey: string): Promise<TileRow[]>;
}
