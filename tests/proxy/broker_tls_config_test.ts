// loadConfig(): --amqp-ca-file, --amqp-cert-file, --amqp-key-file (read at load, one-line errors
// naming the flag and file), shownConfig() masking, and discovery never handing out credentials.
import { describe, expect, test } from "bun:test";
import { discoveryAnswer } from "../../proxy/api/discovery.ts";
import { ConfigError, type Config, loadConfig, shownConfig } from "../../proxy/config/load_config.ts";
import { errorOf as configErrorOf } from "../support/error_of.ts";

const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
const FILES: Record<string, string> = { "/ca.crt": CERT, "/client.crt": CERT, "/client.key": KEY };
const AMQPS = ["--amqp-url", "amqps://vsb:pw-secret@mec:5671"];

function load(args: string[], env: Record<string, string> = {}): Config {
  const result = loadConfig(args, env, (path) => {
    if (!(path in FILES)) throw new Error(`ENOENT: no such file "${path}"`);
    return FILES[path]!;
  });
  if (result.kind === "help" || result.kind === "help-markdown") throw new Error("expected a config");
  return result.config;
}

/** The message of the ConfigError `fn` throws. */
function errorOf(fn: () => unknown): string {
  return configErrorOf(fn, ConfigError);
}

describe("loadConfig() broker TLS", () => {
  test("the CA, client certificate and key are read as amqplib's socket options", () => {
    const config = load([...AMQPS, "--amqp-ca-file", "/ca.crt", "--amqp-cert-file", "/client.crt"], { VSB_AMQP_KEY_FILE: "/client.key" });
    expect(config.amqpTls).toEqual({ ca: [CERT], cert: CERT, key: KEY });
    expect(load(AMQPS).amqpTls).toBeUndefined();
  });

  test("bad TLS files are one line naming the flag and the file", () => {
    expect(errorOf(() => load([...AMQPS, "--amqp-ca-file", "/nope"]))).toMatch(/^--amqp-ca-file "\/nope" could not be read: ENOENT/);
    expect(errorOf(() => load([...AMQPS, "--amqp-ca-file", "/client.key"])))
      .toBe('--amqp-ca-file "/client.key" holds no PEM certificate (-----BEGIN ...CERTIFICATE-----)');
    expect(errorOf(() => load([...AMQPS, "--amqp-cert-file", "/client.crt"]))).toBe("--amqp-cert-file and --amqp-key-file must be given together");
    expect(errorOf(() => load(["--amqp-url", "amqp://vsb:pw-secret@mec:5672", "--amqp-ca-file", "/ca.crt"])))
      .toBe('--amqp-ca-file, --amqp-cert-file and --amqp-key-file need an amqps:// --amqp-url, not "amqp://vsb:***@mec:5672"');
  });

  test("a bad URL's error never shows its password", () => {
    expect(errorOf(() => load(["--amqp-url", "http://vsb:pw-secret@mec:5672"]))).toBe('flag --amqp-url "http://vsb:***@mec:5672" (item 0): must be a URL with scheme amqp or amqps');
    expect(errorOf(() => load([], { VSB_MQTT_URL: "ftp://u:mq-secret@mec" }))).not.toContain("mq-secret");
  });

  test("--check output shows neither the password nor the PEM texts", () => {
    const shown = shownConfig(load([...AMQPS, "--amqp-ca-file", "/ca.crt", "--mqtt-url", "mqtts://u:mq-secret@mec:8883"]));
    expect(shown).toContain('"amqpUrl": "amqps://vsb:***@mec:5671"');
    expect(shown).toContain('"mqttUrl": "mqtts://u:***@mec:8883"');
    expect(shown).toContain('"amqpCaFile": "/ca.crt"');
    expect(shown).not.toMatch(/pw-secret|mq-secret|BEGIN/);
  });
});

describe("discoveryAnswer()", () => {
  test("names the message broker without the credentials of --mqtt-url", () => {
    const [mec] = discoveryAnswer({ mecId: "m", publicUrl: "https://mec:8443", mqttUrls: ["mqtts://proxy:mq-secret@mec:8883"] });
    const broker = mec!.sb_services[0]!;
    expect(broker).toMatchObject({ ip: "mec", port: "8883", url: "mqtts://mec:8883" });
    expect(JSON.stringify(mec)).not.toContain("mq-secret");
    expect(discoveryAnswer({ mecId: "m", publicUrl: "http://mec:8080", mqttUrls: ["mqtt://mec:1883"] })[0]!.sb_services[0]!.url).toBe("mqtt://mec:1883");
    // A cluster: one message-broker entry per node, in order.
    const nodes = discoveryAnswer({ mecId: "m", publicUrl: "http://mec:8080", mqttUrls: ["mqtt://mq1:1883", "mqtt://mq2:1883"] })[0]!.sb_services;
    expect(nodes.filter((s) => s.service_name === "message-broker").map((s) => s.url)).toEqual(["mqtt://mq1:1883", "mqtt://mq2:1883"]);
  });
});
