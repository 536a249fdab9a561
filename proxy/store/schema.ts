/**
 * The registration store's SQLite schema. `AUTOINCREMENT` (not just `INTEGER PRIMARY
 * KEY`) so that ids are never reused, even after the newest dataflow is deleted: a
 * consumer that still holds an old id must never receive another sensor's frames.
 */

/** Bumped when the schema changes incompatibly; checked at open. */
export const SCHEMA_VERSION = 7;

/**
 * Ended-dataflow retention and paged lists (store12): the zoom-25 position key becomes a column,
 * so a quadkey filter on ended rows runs in SQL instead of parsing every row's metadata
 * (NULL = not computed yet; the registry fills it at open; '' = no usable position).
 */
export const MIGRATION_POSITION_QUADKEY = "ALTER TABLE dataflows ADD COLUMN position_quadkey TEXT";

/**
 * The discovery service's tables (`--discovery`, proxy/discovery/): MECs and the tiles they
 * serve. Created on every store, used only with the role on; v6.
 */
export const MIGRATION_DISCOVERY_TABLES = [
  `CREATE TABLE IF NOT EXISTS mecs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT    NOT NULL UNIQUE,            -- the MEC's --mec-id: re-registering updates, never duplicates
  info          TEXT    NOT NULL,                   -- lat, lng, organization, resources, props as sent, JSON
  sb_services   TEXT    NOT NULL,                   -- JSON array
  owner         TEXT,
  registered_at INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  expires_at    INTEGER                             -- ms, NULL: registered without ttlSeconds (never lapses)
)`,
  `CREATE TABLE IF NOT EXISTS mec_tiles (
  mec_id INTEGER NOT NULL REFERENCES mecs (id) ON DELETE CASCADE,
  tile   TEXT    NOT NULL,
  PRIMARY KEY (mec_id, tile)
)`,
  "CREATE INDEX IF NOT EXISTS mec_tiles_tile ON mec_tiles (tile)",
];

/**
 * Replicas and the owners of WHIP sessions (proxy/store/replica_rows.ts, issue #13); v7. No
 * foreign key to dataflows: a session row outlives its dataflow's pruning until released.
 */
export const MIGRATION_REPLICA_TABLES = [
  `CREATE TABLE IF NOT EXISTS replicas (
  id           TEXT    PRIMARY KEY,                 -- one per proxy process
  public_url   TEXT    NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL                     -- ms, refreshed every beat
)`,
  `CREATE TABLE IF NOT EXISTS whip_owners (
  dataflow_id  INTEGER PRIMARY KEY,
  replica_id   TEXT    NOT NULL,
  public_url   TEXT    NOT NULL,                    -- the owner's --public-url
  session_id   TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL                     -- ms, refreshed by the owner while the session is alive
)`,
  "CREATE INDEX IF NOT EXISTS whip_owners_replica ON whip_owners (replica_id)",
];

/**
 * Statements that take a database of version `n` to `n + 1`, run in order at open. Each entry
 * is a named constant so that a merge with another branch's migration only renumbers keys.
 */
export const MIGRATIONS: Record<number, string[]> = {
  1: ["ALTER TABLE dataflows ADD COLUMN last_media_at INTEGER"],
  // v3: who registered a dataflow / took a lease (roles); older rows have none: the operator's.
  2: ["ALTER TABLE dataflows ADD COLUMN owner TEXT", "ALTER TABLE demands ADD COLUMN owner TEXT"],
  // v4: the key that signs the dataflow's control messages; older rows have none (their agents
  // got none at registration, so their control messages stay unsigned).
  3: ["ALTER TABLE dataflows ADD COLUMN control_key TEXT"],
  4: [MIGRATION_POSITION_QUADKEY],
  5: MIGRATION_DISCOVERY_TABLES,
  6: MIGRATION_REPLICA_TABLES,
};

/**
 * WAL so readers never wait for the writer; `synchronous = NORMAL` because in WAL mode
 * it keeps the database consistent after a crash and only a power cut may lose the last
 * commits, which keep-alives re-create within seconds anyway.
 */
export const PRAGMAS = [
  "PRAGMA journal_mode = WAL",
  "PRAGMA synchronous = NORMAL",
  "PRAGMA foreign_keys = ON",
  "PRAGMA busy_timeout = 5000",
];

/** Tables and indexes, created if missing. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dataflows (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  metadata          TEXT    NOT NULL,           -- normalised 5GMETA metadata, JSON
  data_type         TEXT    NOT NULL,
  data_sub_type     TEXT    NOT NULL,
  quadkey           TEXT    NOT NULL,           -- locationQuadkey, for prefix filters
  token_hash        TEXT    NOT NULL,           -- sha256 hex of the ingest token
  keepalive_seconds REAL    NOT NULL,
  registered_at     INTEGER NOT NULL,           -- ms since the epoch
  last_seen_at      INTEGER NOT NULL,           -- flushed in batches, see Registry
  last_media_at     INTEGER,                    -- last RTP packet of a WHIP session (v2)
  position_quadkey  TEXT,                       -- zoom-25 key of its coordinates, '' if none (v5)
  active            INTEGER NOT NULL DEFAULT 1,
  state             TEXT    NOT NULL DEFAULT 'registered',
  ended_at          INTEGER,
  end_reason        TEXT,
  owner             TEXT,                       -- identity that registered it: token:NAME, oidc:SUB (v3)
  control_key       TEXT                        -- HMAC key of its control messages, base64url (v4)
);
CREATE INDEX IF NOT EXISTS dataflows_active ON dataflows (active);
-- Paged lists walk (active, id) backwards from the newest, retention deletes by end time.
CREATE INDEX IF NOT EXISTS dataflows_active_id ON dataflows (active, id);
CREATE INDEX IF NOT EXISTS dataflows_ended_at ON dataflows (active, ended_at);
CREATE TABLE IF NOT EXISTS udp_ports (
  port        INTEGER PRIMARY KEY,
  dataflow_id INTEGER NOT NULL UNIQUE REFERENCES dataflows (id)
);
CREATE TABLE IF NOT EXISTS demands (
  id          TEXT    PRIMARY KEY,
  dataflow_id INTEGER,
  quadkey     TEXT,
  data_type   TEXT,
  ttl_seconds INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  owner       TEXT                                -- identity that took it (v3)
);
${MIGRATION_DISCOVERY_TABLES.join(";\n")};
${MIGRATION_REPLICA_TABLES.join(";\n")};
`;
