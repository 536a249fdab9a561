// The discovery options through the real loader: defaults, the checks that tie them together
// (one line naming the flag), and the token masked by --check.
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig, shownConfig } from "../../../proxy/config/load_config.ts";

const load = (argv: string[], env: Record<string, string> = {}) => {
  const result = loadConfig(argv, env, () => "");
  if (result.kind !== "run" && result.kind !== "check") throw new Error("expected a config");
  return result.config;
};
const refused = (argv: string[]) => {
  try {
    load(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("discovery options", () => {
  test("default off: no role, no registration, a 60 s interval", () => {
    const c = load([]);
    expect([c.discovery, c.discoveryRegisterUrl, c.mecTiles, c.discoveryRegisterInterval]).toEqual([false, undefined, undefined, 60_000]);
  });

  test("a registering MEC: tiles from flags (repeated or comma list), the token from env, masked by --check", () => {
    const c = load(["--discovery-register-url", "http://d.example:8080", "--mec-tiles", "0313,0320", "--mec-tiles", "1", "--mec-id", "mec-b",
      "--discovery-register-interval", "5s"], { VSB_DISCOVERY_REGISTER_TOKEN: "op-secret-token" });
    expect([c.mecTiles, c.discoveryRegisterInterval, c.discoveryRegisterToken]).toEqual([["0313", "0320", "1"], 5000, "op-secret-token"]);
    const shown = shownConfig(c);
    expect(shown).not.toContain("op-secret-token");
    expect(JSON.parse(shown).discoveryRegisterToken).toBe("***");
  });

  test("options that do not fit together are refused with one line naming the flag", () => {
    expect(refused(["--discovery-register-url", "http://d.example", "--mec-id", "b"])).toBe("--discovery-register-url needs --mec-tiles: the tiles this MEC serves");
    expect(refused(["--mec-tiles", "0313", "--mec-id", "b"])).toBe("--mec-tiles needs --discovery-register-url: the discovery service to register them at");
    expect(refused(["--discovery-register-url", "http://d.example", "--mec-tiles", "0313"]))
      .toBe('--discovery-register-url needs a --mec-id of this MEC\'s own (not "local"): the discovery service knows a MEC by it');
    expect(refused(["--mec-tiles", "03x3"])).toBe('flag --mec-tiles "03x3" (item 0): must be a quadkey of 1 to 31 digits 0-3');
    expect(refused(["--discovery-register-url", "ftp://d"])).toBe('flag --discovery-register-url "ftp://d": must be a URL with scheme http or https');
  });
});
