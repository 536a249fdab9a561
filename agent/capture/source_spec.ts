/**
 * `--source` values: `test`, `v4l2:/dev/videoN`, `udp:PORT` (or `udp:ADDRESS:PORT`),
 * `rtsp://…` (or `rtsps://…`), `file:PATH`. Parsed once, at the edge, into a tagged union.
 */
import type { VideoSource } from "../../shared/mod.ts";

/** A parsed `--source`. */
export type SourceSpec =
  | { kind: "test" }
  | { kind: "v4l2"; device: string }
  | { kind: "udp"; address?: string; port: number }
  | { kind: "rtsp"; url: string }
  | { kind: "file"; path: string };

/** The `videoInfo.source` value registered for a spec. */
export function sourceType(spec: SourceSpec): VideoSource {
  return spec.kind;
}

function port(text: string, value: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
    throw new RangeError(`source "${value}" needs a UDP port from 1 to 65535`);
  }
  return n;
}

/**
 * gst-launch-1.0 re-joins its argv into one pipeline text: a `"` in a value closes the quotes
 * the agent puts around it and what follows becomes elements (`a" ! filesink location=… name="b`),
 * and `\` escapes the next character. Neither can be quoted reliably, so they are refused, as are
 * control characters; spaces and `!` are safe inside the quotes (see `gstQuoted`).
 */
// deno-lint-ignore no-control-regex
export const UNQUOTABLE = /["\\\u0000-\u001f\u007f]/;

/** Parses a `--source` value; throws a RangeError naming the value when it is not one. */
export function parseSourceSpec(value: string): SourceSpec {
  const spec = parseSpec(value);
  const text = spec.kind === "v4l2" ? spec.device : spec.kind === "file" ? spec.path : spec.kind === "rtsp" ? spec.url : spec.kind === "udp" ? spec.address ?? "" : "";
  if (UNQUOTABLE.test(text)) {
    throw new RangeError(`source "${value}" has a '"', '\\' or control character, which gst-launch-1.0 cannot take in a value`);
  }
  return spec;
}

function parseSpec(value: string): SourceSpec {
  const text = value.trim();
  if (text === "test") return { kind: "test" };
  if (/^rtsps?:\/\/./i.test(text)) {
    try {
      new URL(text);
    } catch {
      throw new RangeError(`source "${value}" is not a valid RTSP URL`);
    }
    return { kind: "rtsp", url: text };
  }
  const colon = text.indexOf(":");
  const scheme = colon > 0 ? text.slice(0, colon) : "";
  const rest = colon > 0 ? text.slice(colon + 1) : "";
  if (scheme === "v4l2" && rest.startsWith("/dev/")) return { kind: "v4l2", device: rest };
  if (scheme === "file" && rest.length > 0) return { kind: "file", path: rest.replace(/^\/\/(?=\/)/, "") };
  if (scheme === "udp") {
    const parts = rest.split(":");
    if (parts.length === 1) return { kind: "udp", port: port(parts[0]!, value) };
    if (parts.length === 2 && parts[0]!.length > 0) return { kind: "udp", address: parts[0], port: port(parts[1]!, value) };
  }
  throw new RangeError(
    `source "${value}" must be test, v4l2:/dev/videoN, udp:PORT, rtsp://HOST/PATH or file:PATH`,
  );
}

/**
 * True when the source can end: a file played once. Its clean end ends the session; every
 * other source is live and is restarted when its child exits, and a looping file starts over.
 */
export function sourceEnds(spec: SourceSpec, loop: boolean): boolean {
  return spec.kind === "file" && !loop;
}

/**
 * The 5GMETA sensors were configured with `VIDEO_SOURCE` (kind) and `VIDEO_PARAM` (its
 * parameter): `udp` + `7000`, `rtsp` + URL, `v4l2` + device, `file` + path.
 */
export function sourceFromLegacy(kind: string, param: string | undefined): string {
  const k = kind.trim().toLowerCase();
  if (param === undefined || param === "" || k.includes(":") || k === "test") return kind;
  if (k === "rtsp") return param;
  if (k === "video" || k === "camera") return `v4l2:${param}`;
  return `${k}:${param}`;
}
