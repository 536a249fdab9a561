// loadConfig(): defaults → --config FILE → env (VSB_*, then 5GMETA names) → flags; errors name the origin.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, ignoredEnv, loadConfig } from "../../agent/config/load_config.ts";
import { helpText } from "../../agent/config/help_text.ts";
import { OPTION_KEYS, OPTIONS } from "../../agent/config/options.ts";
import { errorOf as configErrorOf } from "../support/error_of.ts";

const ROOT = join(import.meta.dir, "..", "..");
const BASE = ["--lat", "43.295778", "--lon", "-1.980823", "--registration-url", "http://mec:8080"];

function load(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return loadConfig({
    args: [...BASE, ...args],
    env,
    readFile: (path) => {
      if (!(path in files)) throw new Error(`ENOENT: "${path}"`);
      return files[path]!;
    },
  });
}

/** The message of the ConfigError `fn` throws. */
function errorOf(fn: () => unknown): string {
  return configErrorOf(fn, ConfigError);
}

describe("loadConfig()", () => {
  test("defaults: test source, x264 1280x720 30 fps, keyint = fps", () => {
    const c = load([]);
    expect(c.source).toEqual({ kind: "test" });
    expect([c.encoder, c.width, c.height, c.fps, c.bitrate, c.keyint]).toEqual(["x264", 1280, 720, 30, 2000, 30]);
    expect(c.stun).toEqual([]);
    expect(c.noMqtt).toBe(false);
  });

  test("--clock-offset-ms (VSB_CLOCK_OFFSET_MS): 0 by default, negative allowed, a fraction or over a day refused", () => {
    expect(load([]).clockOffsetMs).toBe(0);
    expect(load(["--clock-offset-ms", "-200"]).clockOffsetMs).toBe(-200);
    expect(load([], { VSB_CLOCK_OFFSET_MS: "150" }).clockOffsetMs).toBe(150);
    expect(errorOf(() => load(["--clock-offset-ms", "1.5"]))).toContain("--clock-offset-ms");
    expect(errorOf(() => load(["--clock-offset-ms", "90000000"]))).toContain("--clock-offset-ms");
  });

  test("keyint follows --fps unless given", () => {
    expect(load(["--fps", "15"]).keyint).toBe(15);
    expect(load(["--fps", "15", "--keyint", "60"]).keyint).toBe(60);
  });

  test("precedence: flags > env > config file > defaults", () => {
    const files = { "/etc/vsb.json": JSON.stringify({ width: 640, height: 360, fps: 10, bitrate: 700 }) };
    const env = { VSB_CONFIG: "/etc/vsb.json", VSB_HEIGHT: "480", VSB_FPS: "20" };
    const c = load(["--fps", "25"], env, files);
    expect([c.width, c.height, c.fps, c.bitrate]).toEqual([640, 480, 25, 700]);
  });

  test("--config flag beats VSB_CONFIG", () => {
    const files = { "/a.json": '{"width": 320}', "/b.json": '{"width": 800}' };
    expect(load(["--config", "/b.json"], { VSB_CONFIG: "/a.json" }, files).width).toBe(800);
  });

  test("5GMETA env names: VIDEO_SOURCE + VIDEO_PARAM, VIDEO_TTL, AMQP_*", () => {
    const c = load([], { VIDEO_SOURCE: "udp", VIDEO_PARAM: "7000", VIDEO_TTL: "60", AMQP_USER: "u", AMQP_PASS: "p", AMQP_IP: "10.0.0.5", AMQP_PORT: "1883" });
    expect(c.source).toEqual({ kind: "udp", port: 7000 });
    expect([c.ttl, c.mqttUser, c.mqttPassword, c.mqttUrl]).toEqual([60, "u", "p", ["mqtt://10.0.0.5:1883"]]);
  });

  test("AMQP_IP gives the MQTT host on port 1883: AMQP_PORT (the broker's AMQP port) is not used", () => {
    expect(load([], { AMQP_IP: "10.0.0.5", AMQP_PORT: "5672" }).mqttUrl).toEqual(["mqtt://10.0.0.5:1883"]);
    expect(load([], { AMQP_IP: "10.0.0.5" }).mqttUrl).toEqual(["mqtt://10.0.0.5:1883"]);
    expect(load([], { AMQP_IP: "fd00::5" }).mqttUrl).toEqual(["mqtt://[fd00::5]:1883"]);
    expect(load([], { AMQP_IP: "10.0.0.5", VSB_MQTT_URL: "mqtt://broker:11883" }).mqttUrl).toEqual(["mqtt://broker:11883"]);
    expect(load(["--mqtt-url", "mqtt://b:2883"], { AMQP_IP: "10.0.0.5", AMQP_PORT: "5672" }).mqttUrl).toEqual(["mqtt://b:2883"]);
  });

  test("ignoredEnv() names AMQP_PORT when it is set, and nothing otherwise", () => {
    expect(ignoredEnv({ AMQP_IP: "10.0.0.5" })).toEqual([]);
    const [ignored, ...rest] = ignoredEnv({ AMQP_IP: "10.0.0.5", AMQP_PORT: "5672" });
    expect(rest).toEqual([]);
    expect(ignored).toMatchObject({ name: "AMQP_PORT", value: "5672" });
    expect(ignored!.reason).toContain("MQTT");
  });

  test("vsb-agent --check warns once that AMQP_PORT is ignored", () => {
    const r = spawnSync(process.execPath, ["agent/main.ts", "--check", "--source", "udp:5600", ...BASE], {
      cwd: join(import.meta.dir, "..", ".."),
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", AMQP_IP: "10.0.0.5", AMQP_PORT: "5672" },
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    const warnings = r.stderr.split("\n").filter((l) => l.includes("AMQP_PORT"));
    expect(warnings.length).toBe(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: "warn", msg: "env variable ignored", name: "AMQP_PORT" });
  });

  test("VSB_* names beat the 5GMETA names", () => {
    const c = load([], { VIDEO_SOURCE: "udp", VIDEO_PARAM: "7000", VSB_SOURCE: "rtsp://cam/stream", VIDEO_TTL: "60", VSB_TTL: "5" });
    expect(c.source).toEqual({ kind: "rtsp", url: "rtsp://cam/stream" });
    expect(c.ttl).toBe(5);
  });

  test("sources: v4l2, udp with address, rtsp, file", () => {
    expect(load(["--source", "v4l2:/dev/video2"]).source).toEqual({ kind: "v4l2", device: "/dev/video2" });
    expect(load(["--source=udp:239.0.0.1:5004"]).source).toEqual({ kind: "udp", address: "239.0.0.1", port: 5004 });
    expect(load(["--source", "file:/v/a.mp4", "--loop"]).source).toEqual({ kind: "file", path: "/v/a.mp4" });
  });

  test("lists repeat and comma-separate; booleans take =false", () => {
    const c = load(["--stun", "stun:a:3478,stun:b:3478", "--stun", "stun:c:3478", "--no-mqtt=false", "--keep-registration"]);
    expect(c.stun).toEqual(["stun:a:3478", "stun:b:3478", "stun:c:3478"]);
    expect(c.noMqtt).toBe(false);
    expect(c.keepRegistration).toBe(true);
  });

  test("errors name the flag, the env variable or the config key", () => {
    expect(errorOf(() => load(["--width", "abc"]))).toBe('invalid --width "abc": must be a number');
    expect(errorOf(() => load([], { VSB_FPS: "0" }))).toStartWith('invalid env VSB_FPS "0":');
    expect(errorOf(() => load(["--config", "/c.json"], {}, { "/c.json": '{"bitrate": -5}' })))
      .toStartWith('invalid config key "bitrate" in "/c.json" "-5":');
    expect(errorOf(() => load(["--config", "/c.json"], {}, { "/c.json": '{"colour": 1}' }))).toBe('config file "/c.json": unknown key "colour"');
    expect(errorOf(() => load(["--source", "webcam"]))).toContain('source "webcam" must be test, v4l2:/dev/videoN');
    expect(errorOf(() => load(["--frobnicate"]))).toBe('unknown flag "--frobnicate" (see --help)');
    expect(errorOf(() => load(["--encoder", "x265"]))).toStartWith('invalid --encoder "x265":');
    expect(errorOf(() => load(["--stun", "stun.l.google.com"]))).toContain("must start with stun:");
    expect(errorOf(() => load(["--width"]))).toBe("flag --width needs a value PX");
  });

  test("needs a location and a MEC", () => {
    const none = (args: string[]) => loadConfig({ args, env: {}, readFile: () => "" });
    expect(errorOf(() => none(["--registration-url", "http://m"]))).toBe("no location: give --lat and --lon, or --position-file");
    expect(errorOf(() => none(["--lat", "1"]))).toBe("--lat and --lon must be given together");
    expect(errorOf(() => none(["--lat", "1", "--lon", "2"]))).toStartWith("no MEC:");
    expect(errorOf(() => load(["--lat", "91"]))).toStartWith('invalid --lat "91":');
  });

  test("--loop only with a file source", () => {
    expect(errorOf(() => load(["--loop"]))).toBe('--loop needs a file: source, not "test"');
  });
});

describe("helpText()", () => {
  test("lists every flag and env name of the options table, and nothing else", () => {
    const help = helpText("0.0.0");
    for (const key of OPTION_KEYS) {
      expect(help).toContain(OPTIONS[key].flag);
      for (const env of OPTIONS[key].env) expect(help).toContain(env);
    }
    const flags = new Set(help.match(/--[a-z0-9-]+/g));
    const known = new Set(OPTION_KEYS.map((k) => OPTIONS[k].flag as string));
    for (const flag of flags) expect(known.has(flag) || flag === "--flag").toBe(true);
  });
});

describe("--api-token-file", () => {
  test("the token is the file's content, trimmed; env VSB_API_TOKEN_FILE works too", () => {
    expect(load(["--api-token-file", "/run/vsb/token"], {}, { "/run/vsb/token": "  sensor-token-0123456789\n" }).apiToken).toBe("sensor-token-0123456789");
    expect(load([], { VSB_API_TOKEN_FILE: "/t" }, { "/t": "abc\r\n" }).apiToken).toBe("abc");
  });

  test("an unreadable, empty or many-word file, or both token flags, is one line naming the flag and the file, never the token", () => {
    expect(errorOf(() => load(["--api-token-file", "/missing"]))).toBe('--api-token-file "/missing" could not be read: ENOENT: "/missing"');
    expect(errorOf(() => load(["--api-token-file", "/e"], {}, { "/e": "\n" }))).toBe('--api-token-file "/e" must hold one token (no spaces), not nothing');
    const two = errorOf(() => load(["--api-token-file", "/two"], {}, { "/two": "secret-one secret-two\n" }));
    expect(two).toStartWith('--api-token-file "/two" must hold one token');
    expect(two).not.toContain("secret");
    expect(errorOf(() => load(["--api-token", "x", "--api-token-file", "/t"], {}, { "/t": "y" }))).toBe("give --api-token or --api-token-file, not both");
  });

  test("the real agent reads the file, exits 2 with one line when it is missing, and never prints the token", () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-agent-token-"));
    try {
      const file = join(dir, "token");
      writeFileSync(file, "agent-file-secret-0123456789\n", { mode: 0o600 });
      const args = ["agent/main.ts", ...BASE, "--source", "test", "--check"];
      const ok = spawnSync(process.execPath, [...args, "--api-token-file", file], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
      expect(ok.status).toBe(0);
      expect(ok.stdout + ok.stderr).not.toContain("agent-file-secret");
      const missing = spawnSync(process.execPath, [...args, "--api-token-file", join(dir, "nope")], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
      expect(missing.status).toBe(2);
      expect(missing.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^vsb-agent: --api-token-file ".*nope" could not be read: ENOENT/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
