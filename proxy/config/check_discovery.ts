/** Checks the discovery options together (a MEC registering itself needs its tiles and a name). */
import { ConfigError } from "./config_error.ts";

/** What {@link checkDiscovery} reads of the config. */
export interface DiscoveryOptions {
  mecId: string;
  discoveryRegisterUrl?: string;
  mecTiles?: string[];
}

/** The default `--mec-id`, which two MECs would share. */
const DEFAULT_MEC_ID = "local";

/** Throws a ConfigError naming the flag when the discovery options do not fit together. */
export function checkDiscovery(config: DiscoveryOptions): void {
  if (config.discoveryRegisterUrl && !config.mecTiles?.length) {
    throw new ConfigError("--discovery-register-url needs --mec-tiles: the tiles this MEC serves");
  }
  if (config.mecTiles?.length && !config.discoveryRegisterUrl) {
    throw new ConfigError("--mec-tiles needs --discovery-register-url: the discovery service to register them at");
  }
  if (config.discoveryRegisterUrl && config.mecId === DEFAULT_MEC_ID) {
    throw new ConfigError(`--discovery-register-url needs a --mec-id of this MEC's own (not "${DEFAULT_MEC_ID}"): the discovery service knows a MEC by it`);
  }
}
