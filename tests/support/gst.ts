// What this machine can run, for tests that need real GStreamer (and friends): probes plus
// `skipUnless()`, which skips a test with its reason printed instead of passing it silently.
import { test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

const cache = new Map<string, boolean>();

function cached(key: string, probe: () => boolean): boolean {
  let value = cache.get(key);
  if (value === undefined) {
    value = probe();
    cache.set(key, value);
  }
  return value;
}

function runs(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
  return result.error === undefined && result.status === 0;
}

/** True when `command` is an executable on PATH (or an absolute path that exists). */
export function hasCommand(command: string): boolean {
  return cached(`cmd:${command}`, () =>
    command.includes("/") ? existsSync(command) : runs("sh", ["-c", `command -v '${command}'`]));
}

/** True when gst-launch-1.0 and gst-inspect-1.0 are installed. */
export function hasGst(): boolean {
  return hasCommand("gst-launch-1.0") && hasCommand("gst-inspect-1.0");
}

/** True when the GStreamer element `name` (e.g. "x264enc") is available. */
export function hasElement(name: string): boolean {
  return cached(`element:${name}`, () => hasGst() && runs("gst-inspect-1.0", ["--exists", name]));
}

/** True when every one of `names` is available (see `hasElement()`). */
export function hasElements(...names: string[]): boolean {
  return names.every(hasElement);
}

/** The GStreamer elements of `names` that are missing, for skip reasons. */
export function missingElements(...names: string[]): string[] {
  return names.filter((name) => !hasElement(name));
}

/** True when /usr/bin/python3 can load GstRtspServer (python3-gi, gir1.2-gst-rtsp-server-1.0), for an RTSP test server. */
export function hasRtspServer(): boolean {
  return cached("rtsp-server", () =>
    runs("/usr/bin/python3", ["-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"]));
}

/** True when a V4L2 capture device (/dev/video*) exists. */
export function hasVideoDevice(): boolean {
  return cached("v4l2", () => {
    try {
      return readdirSync("/dev").some((entry) => /^video\d+$/.test(entry));
    } catch {
      return false;
    }
  });
}

/** True when /usr/bin/chromium exists (driven by playwright-core; never downloaded). */
export function hasChromium(): boolean {
  return hasCommand("/usr/bin/chromium");
}

const printed = new Set<string>();

/**
 * `test` when `condition` holds; otherwise `test.skip`, after printing `reason` once. Use it
 * like `test`: `skipUnless(hasElement("x264enc"), "x264enc is not installed")("encodes…", fn)`.
 */
export function skipUnless(condition: boolean, reason: string): typeof test {
  if (condition) return test;
  if (!printed.has(reason)) {
    printed.add(reason);
    console.log(`skip: ${reason}`);
  }
  return test.skip as typeof test;
}
