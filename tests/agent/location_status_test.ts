// Position files (gpsd-style JSON), locationFix() quadkeys, and the atomically written status file.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaptureStats } from "../../agent/capture_stats.ts";
import { locationFix } from "../../agent/location/location_fix.ts";
import { parsePosition, watchPositionFile } from "../../agent/location/position_file.ts";
import { createLogger } from "../../agent/log.ts";
import { StatusReporter } from "../../agent/status.ts";
import { waitUntil } from "../support/procs.ts";

describe("parsePosition()", () => {
  test("reads {lat, lon}, {latitude, longitude} and gpsd's TPV stream (last fix wins)", () => {
    expect(parsePosition('{"lat": 40.7128, "lon": -74.006}', "f")).toEqual({ lat: 40.7128, lon: -74.006 });
    expect(parsePosition('{"latitude": "1.5", "longitude": 2}', "f")).toEqual({ lat: 1.5, lon: 2 });
    const stream = [
      '{"class":"VERSION","release":"3.22"}',
      '{"class":"TPV","mode":3,"lat":43.1,"lon":-1.9}',
      '{"class":"SKY","satellites":[]}',
      '{"class":"TPV","mode":3,"lat":43.2,"lon":-1.8}',
      '{"class":"TPV","mode":1}',
    ].join("\n");
    expect(parsePosition(stream, "f")).toEqual({ lat: 43.2, lon: -1.8 });
  });

  test("no position, or a bad one, is an error naming the file or the value", () => {
    expect(() => parsePosition('{"class":"TPV","mode":1}', "/run/gps.json")).toThrow('position file "/run/gps.json" holds no position');
    expect(() => parsePosition('{"lat": 95, "lon": 0}', "f")).toThrow('latitude "95"');
  });

  test("reads a whole-file JSON object pretty-printed over several lines", () => {
    const pretty = JSON.stringify({ class: "TPV", mode: 3, lat: 43.3, lon: -1.98, alt: 12 }, null, 2);
    expect(pretty.split("\n").length).toBeGreaterThan(3);
    expect(parsePosition(pretty, "f")).toEqual({ lat: 43.3, lon: -1.98 });
    expect(parsePosition('{\n  "latitude": 1.5,\n  "longitude": 2\n}\n', "f")).toEqual({ lat: 1.5, lon: 2 });
  });

  test("a gpsd stream uses the last TPV line with lat/lon, skipping later TPVs without a fix", () => {
    const stream = [
      '{"class":"TPV","mode":3,"lat":43.1,"lon":-1.9}',
      '{"class":"TPV","mode":3,"lat":43.2,"lon":-1.8}',
      '{"class":"SKY","satellites":[]}',
      '{"class":"TPV","mode":1,"lat":null,"lon":null}',
      "",
    ].join("\n");
    expect(parsePosition(stream, "f")).toEqual({ lat: 43.2, lon: -1.8 });
    const poll = '{"class":"POLL","tpv":[{"class":"TPV","lat":1,"lon":2},{"class":"TPV","mode":1}]}';
    expect(parsePosition(poll, "f")).toEqual({ lat: 1, lon: 2 });
  });

  test("text that is not JSON, or a bad value, is a one-line error naming the file", () => {
    for (const text of ["", "lat=1 lon=2", "{\n  \"lat\": 1,\n"]) {
      let message = "";
      try {
        parsePosition(text, "/run/gps.json");
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toStartWith('position file "/run/gps.json" is not JSON');
      expect(message).not.toContain("\n");
    }
    expect(() => parsePosition('{"lat": true, "lon": 0}', "/run/gps.json")).toThrow('position file "/run/gps.json": latitude');
    expect(() => parsePosition("[1, 2]", "/run/gps.json")).toThrow('position file "/run/gps.json" holds no position');
  });

  test("watchPositionFile() reports a changed file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-pos-"));
    const path = join(dir, "pos.json");
    writeFileSync(path, '{"lat": 1, "lon": 1}');
    const seen: number[] = [];
    const stop = watchPositionFile(path, (p) => seen.push(p.lat), () => {});
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(path, '{"lat": 2.5, "lon": 1, "pad": "change size and mtime"}');
    await waitUntil("position change", () => seen.includes(2.5), { timeoutMs: 5000 });
    stop();
    rmSync(dir, { recursive: true });
  });
});

test("locationFix() gives zoom 18 and zoom 25 quadkeys", () => {
  expect(locationFix({ lat: 40.7128, lon: -74.006 }).tile).toBe("032010110301111112");
});

test("StatusReporter writes the status file atomically on each state change", () => {
  const dir = mkdtempSync(join(tmpdir(), "vsb-status-"));
  const path = join(dir, "status.json");
  const lines: string[] = [];
  const stats = new CaptureStats();
  stats.count(Uint8Array.of(0x80, 0xe0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x65));
  const reporter = new StatusReporter({ log: createLogger({}, (l) => lines.push(l)), stats, statusFile: path });
  reporter.onState("streaming", 4);
  const status = JSON.parse(readFileSync(path, "utf8"));
  expect(status).toMatchObject({ state: "streaming", dataflowId: 4, packets: 1, frames: 1, restarts: 0 });
  expect(readdirSync(dir)).toEqual(["status.json"]); // no temporary file left behind
  rmSync(dir, { recursive: true });
});
