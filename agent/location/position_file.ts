/**
 * A position from a file that a GPS daemon keeps up to date, gpsd-style JSON in one of two
 * shapes: one JSON object for the whole file, on one line or pretty-printed
 * (`{"class":"TPV","lat":…,"lon":…}`, or `latitude`/`longitude`; a gpsd `POLL` answer uses
 * its last `tpv` entry with a position), or gpsd's stream of one object per line, where the
 * last TPV line with `lat`/`lon` wins. Re-read when the file changes.
 */
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { checkPosition } from "../../shared/mod.ts";
import type { Position } from "./location_fix.ts";

const WANTED = 'want {"lat":…,"lon":…}, or gpsd TPV objects one per line';

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The raw lat/lon of one gpsd-style object, or undefined when it holds no position. */
function rawPosition(value: unknown): { lat: unknown; lon: unknown } | undefined {
  if (!isObject(value)) return undefined;
  if (value.class === "POLL" && Array.isArray(value.tpv)) {
    return value.tpv.map(rawPosition).findLast((p) => p !== undefined);
  }
  if (value.class !== undefined && value.class !== "TPV") return undefined;
  const lat = value.lat ?? value.latitude;
  const lon = value.lon ?? value.longitude;
  return lat === undefined || lat === null || lon === undefined || lon === null ? undefined : { lat, lon };
}

/** A number, or a numeric string (some daemons quote them); anything else is NaN. */
function coordinate(value: unknown): number {
  if (typeof value === "number") return value;
  return typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
}

/** Reads the position in `text`; throws a one-line RangeError naming the file when there is none. */
export function parsePosition(text: string, path: string): Position {
  const whole = parseJson(text);
  const objects = whole !== undefined
    ? [whole]
    : text.split("\n").filter((line) => line.trim().startsWith("{")).map(parseJson).filter((v) => v !== undefined);
  if (objects.length === 0) throw new RangeError(`position file "${path}" is not JSON (${WANTED})`);
  const raw = objects.map(rawPosition).findLast((p) => p !== undefined);
  if (!raw) throw new RangeError(`position file "${path}" holds no position (${WANTED})`);
  const lat = coordinate(raw.lat);
  const lon = coordinate(raw.lon);
  try {
    checkPosition(lat, lon);
  } catch (error) {
    throw new RangeError(`position file "${path}": ${(error as Error).message}`);
  }
  return { lat, lon };
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
