/**
 * A position from a file that a GPS daemon keeps up to date: gpsd-style JSON, either one
 * object (`{"class":"TPV","lat":…,"lon":…}`, or `latitude`/`longitude`) or gpsd's stream of
 * one object per line (the last TPV with a fix wins). Re-read when the file changes.
 */
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { checkPosition } from "../../shared/mod.ts";
import type { Position } from "./location_fix.ts";

/** Reads the position in `text`; throws a RangeError naming the file when there is none. */
export function parsePosition(text: string, path: string): Position {
  const candidates = text.trim().startsWith("{") && !text.trim().includes("\n")
    ? [text]
    : text.split("\n").filter((l) => l.trim().startsWith("{")).reverse();
  for (const line of candidates) {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (value.class !== undefined && value.class !== "TPV") continue;
    const lat = Number(value.lat ?? value.latitude);
    const lon = Number(value.lon ?? value.longitude);
    if (value.lat === undefined && value.latitude === undefined) continue;
    checkPosition(lat, lon);
    return { lat, lon };
  }
  throw new RangeError(`position file "${path}" holds no position (want {"lat":…,"lon":…})`);
}

/** Reads the file once. */
export function readPositionFile(path: string): Position {
  return parsePosition(readFileSync(path, "utf8"), path);
}

/** Calls `onChange` with the new position whenever the file changes (polled each second). */
export function watchPositionFile(path: string, onChange: (p: Position) => void, onError: (e: Error) => void): () => void {
  const listener = () => {
    try {
      onChange(readPositionFile(path));
    } catch (error) {
      onError(error as Error);
    }
  };
  watchFile(path, { interval: 1000, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}
