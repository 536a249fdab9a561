import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { helpText, optionsMarkdown } from "../../proxy/config/help.ts";
import { ConfigError, loadConfig, requireAuthOffLoopback } from "../../proxy/config/load_config.ts";
import { OPTIONS } from "../../proxy/config/options.ts";
import { errorOf } from "../support/error_of.ts";

const noFiles = (path: string): string => {
  throw new Error(`no file "${path}" in this test`);
};
const run = (argv: string[], env: Record<string, string> = {}, read = noFiles) => {
  const result = loadConfig(argv, env, read);
  if (result.kind !== "run") throw new Error("expected a config");
  return result.config;
};

describe("loadConfig()", () => {
  test("defaults match the documented ones", () => {
    const c = run([]);
    expect(c).toMatchObject({
      listen: { host: "0.0.0.0", port: 8080 }, amqpUrl: "amqp://guest:guest@127.0.0.1:5672", sendPolicy: "demand",
      keepaliveSeconds: 5, apiTokens: [], udpForward: "requested", udpForwardHost: "127.0.0.1", udpPorts: { first: 5000, last: 5999 },
      iceServers: [], iceAddresses: [], publishQueueSeconds: 2, mecId: "local",
    });
    expect(c.publicUrl).toBeUndefined();
  });

  test("order is defaults → file → env → flags", () => {
    const file = JSON.stringify({ keepaliveSeconds: 7, sendPolicy: "always", mecId: "from-file", udpPorts: "6000-6010" });
    const read = (p: string) => (p === "/etc/vsb.json" ? file : noFiles(p));
    const c = run(["--config", "/etc/vsb.json", "--keepalive-seconds", "3"], { VSB_KEEPALIVE_SECONDS: "9", VSB_MEC_ID: "from-env" }, read);
    expect(c.keepaliveSeconds).toBe(3);
    expect(c.mecId).toBe("from-env");
    expect(c.sendPolicy).toBe("always");
    expect(c.udpPorts).toEqual({ first: 6000, last: 6010 });
  });

  test("tokens: ROLE:TOKEN from repeated flags, env comma list, and a token file with names", () => {
    const read = (p: string) => (p === "/run/tokens" ? "# ops\noperator:file-token-0123456789 ops-1\n\nconsumer:file-token-abcdefghij\n" : noFiles(p));
    const c = run(["--api-token", "sensor:flag-token-0123456789", "--api-token=consumer:flag-token-abcdefghij", "--api-token-file", "/run/tokens"], {}, read);
    expect(c.apiTokens.map((t) => [t.role, t.token])).toEqual([
      ["sensor", "flag-token-0123456789"], ["consumer", "flag-token-abcdefghij"],
      ["operator", "file-token-0123456789"], ["consumer", "file-token-abcdefghij"],
    ]);
    expect(c.apiTokens[2]!.name).toBe("ops-1");
    expect(c.apiTokens[0]!.name).toMatch(/^token-[0-9a-f]{12}$/);
    expect(c.apiTokens[0]!.name).not.toContain("flag-token");
    expect(run([], { VSB_API_TOKENS: "sensor:env-token-0123456789, operator:env-token-abcdefghij" }).apiTokens).toHaveLength(2);
  });

  test("a token without a role, with an unknown role, or twice is one line that never shows the token", () => {
    const message = (argv: string[], read = noFiles) => {
      try {
        loadConfig(argv, {}, read);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    const plain = message(["--api-token", "plain-secret-0123456789"]);
    expect(plain).toContain("flag --api-token");
    expect(plain).toContain("write operator:TOKEN");
    expect(message(["--api-token", "admin:plain-secret-0123456789"])).toContain('role "admin" is not one of sensor, consumer, operator');
    expect(message(["--api-token", "sensor:short"])).toContain("16 to 512");
    expect(message(["--api-token", "sensor:plain-secret-0123456789", "--api-token", "operator:plain-secret-0123456789"])).toContain("is given twice");
    const file = message(["--api-token-file", "/t"], () => "sensor:plain-secret-0123456789 car-1\nplain-secret-abcdefghij\n");
    expect(file).toStartWith('API token file "/t" line 2:');
    for (const m of [plain, file]) expect(m).not.toContain("plain-secret");
    expect(message(["--api-token-file", "/missing"])).toStartWith('API token file "/missing" could not be read');
  });

  test("OIDC options: --jwks-url needs issuer and audience; the role claim has a Keycloak default", () => {
    const c = run(["--jwks-url", "https://kc.test/certs", "--jwt-issuer", "https://kc.test/realms/mec", "--jwt-audience", "vsb"]);
    expect(c).toMatchObject({ jwksUrl: "https://kc.test/certs", jwtRoleClaim: "realm_access.roles" });
    expect(() => run(["--jwks-url", "https://kc.test/certs"])).toThrow("--jwks-url needs --jwt-issuer and --jwt-audience");
    expect(() => run(["--jwt-issuer", "x"])).toThrow("need --jwks-url");
  });

  test("--insecure-open is a switch; --max-dataflows-per-sensor a whole number, 16 by default", () => {
    expect(run([]).insecureOpen).toBe(false);
    expect(run([]).maxDataflowsPerSensor).toBe(16);
    expect(run(["--insecure-open", "--max-dataflows-per-sensor", "3"])).toMatchObject({ insecureOpen: true, maxDataflowsPerSensor: 3 });
    expect(run([], { VSB_INSECURE_OPEN: "1" }).insecureOpen).toBe(true);
    expect(() => run(["--max-dataflows-per-sensor", "2.5"])).toThrow("whole number");
  });

  test("requireAuthOffLoopback(): refuses a non-loopback --listen without auth, unless --insecure-open", () => {
    const open = (argv: string[]) => () => requireAuthOffLoopback(run(argv));
    expect(open([])).toThrow(/^--listen "0.0.0.0:8080" is not loopback and no auth is configured: set --api-token .* --jwks-url, or pass --insecure-open/);
    expect(open(["--listen", "[::]:80"])).toThrow(ConfigError);
    for (const ok of [["--listen", "127.0.0.1:0"], ["--listen", "[::1]:8080"], ["--listen", "localhost:1"], ["--insecure-open"],
      ["--api-token", "sensor:flag-token-0123456789"],
      ["--jwks-url", "http://127.0.0.1:1/certs", "--jwt-issuer", "i", "--jwt-audience", "a"]]) expect(open(ok)).not.toThrow();
  });

  test("a bad value is one line naming the flag, env var or file key, and the value", () => {
    const error = (argv: string[], env: Record<string, string> = {}, read = noFiles) => {
      try {
        loadConfig(argv, env, read);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).not.toContain("\n");
        return (err as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    expect(error(["--listen", "nope"])).toBe('flag --listen "nope": must be HOST:PORT with a port from 0 to 65535');
    expect(error([], { VSB_SEND_POLICY: "sometimes" })).toStartWith('env VSB_SEND_POLICY "sometimes"');
    expect(error(["--config", "c.json"], {}, () => '{"keepaliveSeconds": -1}')).toStartWith('config file "c.json" key keepaliveSeconds "-1"');
    expect(error(["--config", "c.json"], {}, () => '{"bogus": 1}')).toBe('config file "c.json" key "bogus" is not an option');
    expect(error(["--config", "c.json"], {}, () => "{")).toStartWith('config file "c.json" is not JSON');
    expect(error(["--amqp-url", "http://x"])).toContain("must be a URL with scheme amqp or amqps");
    expect(error(["--frobnicate"])).toBe('unknown argument "--frobnicate" (see --help)');
    expect(error(["--db"])).toBe('flag "--db" needs a value PATH|URL');
    expect(error(["--db", "--listen", "1.2.3.4:5"])).toBe('flag "--db" needs a value PATH|URL');
    expect(error(["--api-token", "short"])).not.toContain("short");
  });

  test("--help and --help-markdown are recognised", () => {
    expect(loadConfig(["--help"], {}, noFiles).kind).toBe("help");
    expect(loadConfig(["--help-markdown"], {}, noFiles).kind).toBe("help-markdown");
  });

  test("--max-access-unit-bytes and --max-nack-burst: defaults 4 MiB and 64, env, and one line naming the flag when out of range", () => {
    expect(run([])).toMatchObject({ maxAccessUnitBytes: 4_194_304, maxNackBurst: 64 });
    expect(run(["--max-nack-burst", "16"], { VSB_MAX_ACCESS_UNIT_BYTES: "1048576" })).toMatchObject({ maxAccessUnitBytes: 1_048_576, maxNackBurst: 16 });
    expect(errorOf(() => run(["--max-access-unit-bytes", "100"]), ConfigError)).toBe('flag --max-access-unit-bytes "100": must be at least 65536');
    expect(errorOf(() => run([], { VSB_MAX_NACK_BURST: "0" }), ConfigError)).toBe('env VSB_MAX_NACK_BURST "0": must be at least 1');
  });
});

describe("helpText() and optionsMarkdown()", () => {
  test("list every option with its env var", () => {
    const help = helpText();
    const md = optionsMarkdown();
    for (const o of OPTIONS) {
      expect(help).toContain(o.flag);
      expect(help).toContain(o.env);
      expect(md).toContain(`\`${o.env}\``);
    }
  });

  test("the README's option reference matches the table (once the README has one)", () => {
    let readme = "";
    try {
      readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    } catch {
      /* no README yet */
    }
    if (!readme.includes("--keepalive-seconds")) {
      console.log("skipped: README.md has no proxy option reference yet");
      return;
    }
    for (const o of OPTIONS) expect(readme).toContain(o.flag);
    for (const o of OPTIONS) expect(readme).toContain(o.env);
  });
});

describe("loadConfig() --db postgres://", () => {
  const url = "postgres://vsb@db.mec.local:5432/vsb";

  test("the password comes from --db-password-file (first line), else PGPASSWORD; a SQLite path needs none", () => {
    const read = (p: string) => (p === "/run/pg" ? "s3cret-from-file\nignored\n" : noFiles(p));
    expect(run(["--db", url, "--db-password-file", "/run/pg"], { PGPASSWORD: "from-env" }, read).dbPassword).toBe("s3cret-from-file");
    expect(run(["--db", url], { PGPASSWORD: "from-env" }).dbPassword).toBe("from-env");
    expect(run(["--db", url]).dbPassword).toBeUndefined();
    expect(run(["--db", "/var/lib/vsb/vsb.db"], { PGPASSWORD: "from-env" }).dbPassword).toBeUndefined();
  });

  test("a URL without host or database, or an unreadable or empty password file, is a ConfigError naming the flag", () => {
    expect(errorOf(() => run(["--db", "postgres://vsb@db:5432"]), ConfigError))
      .toBe('--db "postgres://vsb@db:5432": no database name; expected postgres://USER@HOST:PORT/DB');
    expect(errorOf(() => run(["--db", url, "--db-password-file", "/none"]), ConfigError)).toStartWith('--db-password-file "/none" could not be read:');
    expect(errorOf(() => run(["--db", url, "--db-password-file", "/empty"], {}, (p) => (p === "/empty" ? "\n" : noFiles(p))), ConfigError))
      .toBe('--db-password-file "/empty" is empty: its first line is the password');
  });

  test("--check masks the password, in the URL and from the file", async () => {
    const { shownConfig } = await import("../../proxy/config/load_config.ts");
    const shown = shownConfig(run(["--db", "postgres://vsb:in-url-pw@db:5432/vsb"], { PGPASSWORD: "env-pw" }));
    expect(shown).not.toContain("in-url-pw");
    expect(shown).not.toContain("env-pw");
    expect(shown).toContain('"db": "postgres://vsb:***@db:5432/vsb"');
  });
});
