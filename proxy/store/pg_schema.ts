/**
 * The registration store's PostgreSQL schema as versioned migrations: `vsb_migrations` records
 * each applied version; migrations run in order at open, each in its own transaction, under an
 * advisory lock so that several proxies starting at once migrate exactly once. The tables mirror
 * the SQLite schema (proxy/store/schema.ts): ids from an identity column are never reused; times
 * are ms since the epoch (bigint); `active` is a smallint 1/0 so that rows read the same way.
 */

/** Key of the advisory lock held while migrating (any constant unique to vsb). */
export const MIGRATION_LOCK = 0x76736201;
/** Key of the advisory lock held while a UDP forward port is chosen. */
export const PORT_LOCK = 0x76736202;

/** Statements per version, applied in order; never edit an applied one, add the next. */
export const PG_MIGRATIONS: readonly (readonly string[])[] = [
  // 1: the tables of SQLite schema 5.
  [
    `CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)`,
    `CREATE TABLE dataflows (
      id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      metadata          text     NOT NULL,
      data_type         text     NOT NULL,
      data_sub_type     text     NOT NULL,
      quadkey           text     NOT NULL,
      token_hash        text     NOT NULL,
      keepalive_seconds double precision NOT NULL,
      registered_at     bigint   NOT NULL,
      last_seen_at      bigint   NOT NULL,
      last_media_at     bigint,
      position_quadkey  text,
      active            smallint NOT NULL DEFAULT 1,
      state             text     NOT NULL DEFAULT 'registered',
      ended_at          bigint,
      end_reason        text,
      owner             text,
      control_key       text
    )`,
    `CREATE INDEX dataflows_active_id ON dataflows (active, id)`,
    `CREATE INDEX dataflows_ended_at ON dataflows (active, ended_at)`,
    `CREATE TABLE udp_ports (
      port        integer PRIMARY KEY,
      dataflow_id bigint  NOT NULL UNIQUE REFERENCES dataflows (id)
    )`,
    `CREATE TABLE demands (
      id          text    PRIMARY KEY,
      dataflow_id bigint,
      quadkey     text,
      data_type   text,
      ttl_seconds integer NOT NULL,
      created_at  bigint  NOT NULL,
      expires_at  bigint  NOT NULL,
      owner       text
    )`,
  ],
  // 2: the discovery service's tables (`--discovery`, proxy/discovery/pg_mec_store.ts), as SQLite schema 6.
  [
    `CREATE TABLE mecs (
      id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name          text   NOT NULL UNIQUE,
      info          text   NOT NULL,
      sb_services   text   NOT NULL,
      owner         text,
      registered_at bigint NOT NULL,
      updated_at    bigint NOT NULL,
      expires_at    bigint
    )`,
    `CREATE TABLE mec_tiles (
      mec_id bigint NOT NULL REFERENCES mecs (id) ON DELETE CASCADE,
      tile   text   NOT NULL,
      seq    bigint GENERATED ALWAYS AS IDENTITY,
      PRIMARY KEY (mec_id, tile)
    )`,
    `CREATE INDEX mec_tiles_tile ON mec_tiles (tile)`,
  ],
  // 3: replicas and the owners of WHIP sessions (proxy/store/replica_rows.ts), as SQLite schema 7.
  [
    `CREATE TABLE replicas (
      id           text   PRIMARY KEY,
      public_url   text   NOT NULL,
      started_at   bigint NOT NULL,
      heartbeat_at bigint NOT NULL
    )`,
    `CREATE TABLE whip_owners (
      dataflow_id  bigint PRIMARY KEY,
      replica_id   text   NOT NULL,
      public_url   text   NOT NULL,
      session_id   text   NOT NULL,
      created_at   bigint NOT NULL,
      heartbeat_at bigint NOT NULL
    )`,
    `CREATE INDEX whip_owners_replica ON whip_owners (replica_id)`,
  ],
];

/** The version a database has after every migration above. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;
