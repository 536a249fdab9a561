/**
 * What the discovery options add to a proxy: the Discovery API's routes on the store
 * (`--discovery`) and this MEC's registration at a discovery service
 * (`--discovery-register-url`). Its metrics exist whether or not either is on, so that
 * /metrics always lists the same series.
 */
import type { DiscoveryInfo, RouteModule } from "../api/create_app.ts";
import { discoveryAnswer } from "../api/discovery.ts";
import type { Config } from "../config/load_config.ts";
import { logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { PgStore } from "../store/pg_store.ts";
import type { DataflowStore } from "../store/store_api.ts";
import { discoveryRoutes } from "./discovery_routes.ts";
import type { MecStore } from "./mec_store.ts";
import { MecRegistrar } from "./mec_registrar.ts";
import { pgMecStore } from "./pg_mec_store.ts";
import { sqliteMecStore } from "./sqlite_mec_store.ts";

/** The discovery side of a running proxy. */
export interface DiscoveryRole {
  /** The discovery routes (empty without `--discovery`). */
  routes: RouteModule[];
  /** Starts registering this MEC (when `--discovery-register-url` is set). */
  start(info: DiscoveryInfo): void;
  /** Deregisters this MEC; call before the server stops. */
  stop(): Promise<void>;
  readonly registrar?: MecRegistrar;
}

type Options = Pick<Config, "discovery" | "discoveryRegisterUrl" | "discoveryRegisterToken" | "discoveryRegisterInterval" | "mecTiles" | "mecId">;

/** The discovery tables on the registration store: the same SQLite file or PostgreSQL database. */
function mecStoreOf(store: DataflowStore): MecStore {
  if (store instanceof PgStore) return pgMecStore(store.sql);
  if (store.sqlite) return sqliteMecStore(store.sqlite.database);
  throw new Error(`the ${store.kind} store has no discovery tables`);
}

/** Builds the discovery role of a proxy from its config; `mecStore` defaults to the discovery tables of `store`. */
export function discoveryRole(config: Options, store: DataflowStore, metrics: Metrics, mecStore?: MecStore): DiscoveryRole {
  const lookups = metrics.counter("vsb_discovery_lookups_total", "GET /mec/tile/QUADKEY answered by the discovery service (--discovery), by result: found (at least one MEC) or none");
  const attempts = metrics.counter("vsb_discovery_registrations_total", "POST /mec of this MEC at --discovery-register-url, by result: ok or failed (retried with backoff)");
  const lapsed = metrics.counter("vsb_discovery_lapsed_skipped_total", "MECs left out of GET /mec/tile/QUADKEY answers because their registration's ttlSeconds lapsed (the MEC stopped registering again)");
  const routes = config.discovery ? [discoveryRoutes(mecStore ?? mecStoreOf(store), { lookups, lapsed })] : [];
  let registrar: MecRegistrar | undefined;
  return {
    routes,
    get registrar() {
      return registrar;
    },
    start(info) {
      if (!config.discoveryRegisterUrl || !config.mecTiles?.length) return;
      registrar = new MecRegistrar({
        url: config.discoveryRegisterUrl, token: config.discoveryRegisterToken, name: config.mecId,
        services: discoveryAnswer(info)[0]!.sb_services, tiles: config.mecTiles,
        intervalMs: config.discoveryRegisterInterval, log: logger("discovery"), attempts,
      });
      registrar.start();
    },
    stop: async () => await registrar?.stop(),
  };
}
