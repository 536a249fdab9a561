// loadConfig(): --mqtt-password-file and --mqtt-ca-file, read at start with one-line errors
// naming the flag and the file.
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../agent/config/load_config.ts";
import { errorOf as configErrorOf } from "../support/error_of.ts";

const BASE = ["--lat", "43.295778", "--lon", "-1.980823", "--registration-url", "http://mec:8080"];
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function load(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return loadConfig({
    args: [...BASE, ...args],
    env,
    readFile: (path) => {
      if (!(path in files)) throw new Error(`ENOENT: no such file "${path}"`);
      return files[path]!;
    },
  });
}

/** The message of the ConfigError `fn` throws. */
function errorOf(fn: () => unknown): string {
  return configErrorOf(fn, ConfigError);
}

describe("loadConfig() broker secrets and CA", () => {
  test("--mqtt-password-file (or VSB_MQTT_PASSWORD_FILE) gives the password, trimmed", () => {
    expect(load(["--mqtt-password-file", "/run/pw"], {}, { "/run/pw": "s3cret\n" }).mqttPassword).toBe("s3cret");
    expect(load([], { VSB_MQTT_PASSWORD_FILE: "/run/pw" }, { "/run/pw": "s3cret" }).mqttPassword).toBe("s3cret");
  });

  test("a password file that cannot be read, is empty, or comes with --mqtt-password is one line", () => {
    expect(errorOf(() => load(["--mqtt-password-file", "/nope"]))).toMatch(/^--mqtt-password-file "\/nope" could not be read: ENOENT/);
    expect(errorOf(() => load(["--mqtt-password-file", "/e"], {}, { "/e": " \n" }))).toBe('--mqtt-password-file "/e" is empty');
    expect(errorOf(() => load(["--mqtt-password-file", "/p", "--mqtt-password", "x"], {}, { "/p": "y" })))
      .toBe("give --mqtt-password or --mqtt-password-file, not both");
  });

  test("--mqtt-ca-file must be a readable PEM certificate", () => {
    expect(load(["--mqtt-ca-file", "/ca.crt"], {}, { "/ca.crt": PEM }).mqttCaFile).toBe("/ca.crt");
    expect(errorOf(() => load(["--mqtt-ca-file", "/nope"]))).toMatch(/^--mqtt-ca-file "\/nope" could not be read: /);
    expect(errorOf(() => load(["--mqtt-ca-file", "/key"], {}, { "/key": "-----BEGIN PRIVATE KEY-----\n" })))
      .toBe('--mqtt-ca-file "/key" holds no PEM certificate (-----BEGIN ...CERTIFICATE-----)');
  });

  test("--mqtt-cert-file and --mqtt-key-file go together and must be PEM", () => {
    const files = { "/c.crt": PEM, "/c.key": "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n" };
    expect(load(["--mqtt-cert-file", "/c.crt", "--mqtt-key-file", "/c.key"], {}, files).mqttKeyFile).toBe("/c.key");
    expect(errorOf(() => load(["--mqtt-cert-file", "/c.crt"], {}, files))).toBe("--mqtt-cert-file and --mqtt-key-file must be given together");
    expect(errorOf(() => load(["--mqtt-cert-file", "/c.crt", "--mqtt-key-file", "/c.crt"], {}, files)))
      .toBe('--mqtt-key-file "/c.crt" holds no PEM private key (-----BEGIN ...PRIVATE KEY-----)');
  });

  test("a bad value's error never shows a URL password", () => {
    expect(errorOf(() => load(["--mqtt-url", "nope://u:pw-9f2c@"]))).toBe('invalid --mqtt-url "nope://u:***@": must be a URL');
    expect(errorOf(() => load(["--source", "rtsp://cam:pw-9f2c@"]))).not.toContain("pw-9f2c");
  });
});
