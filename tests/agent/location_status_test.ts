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
