import { describe, expect, test } from "bun:test";
import { DISCOVERY_ZOOM, HEADER_ZOOM, quadkey, quadkeyBounds } from "../../shared/mod.ts";

describe("quadkey()", () => {
  test("matches pygeotile 1.0.6 vectors", () => {
    expect(quadkey(43.295778, -1.980823, DISCOVERY_ZOOM)).toBe("031333123201033303");
    expect(quadkey(43.295778, -1.980823, HEADER_ZOOM)).toBe("0313331232010333031221303");
    expect(quadkey(40.7128, -74.006, DISCOVERY_ZOOM)).toBe("032010110301111112");
  });

  test("a longer key extends the shorter one at the same point", () => {
    const k18 = quadkey(48.8566, 2.3522, 18);
    expect(quadkey(48.8566, 2.3522, 25).startsWith(k18)).toBe(true);
    expect(k18).toMatch(/^[0-3]{18}$/);
  });

  test("rejects positions that are not on the map, naming the value", () => {
    expect(() => quadkey(91, 0, 18)).toThrow(/latitude "91"/);
    expect(() => quadkey(Number.NaN, 0, 18)).toThrow(/latitude "NaN"/);
    expect(() => quadkey(0, 180.5, 18)).toThrow(/longitude "180.5"/);
    expect(() => quadkey(0, Number.POSITIVE_INFINITY, 18)).toThrow(/longitude/);
    expect(() => quadkey(0, 0, 0)).toThrow(/zoom "0"/);
    expect(() => quadkey(0, 0, 2.5)).toThrow(/zoom/);
  });
});

describe("quadkeyBounds()", () => {
  test("the tile of a point contains that point", () => {
    for (const [lat, lon] of [[43.295778, -1.980823], [40.7128, -74.006], [-33.86, 151.2], [0.001, 0.001]]) {
      const b = quadkeyBounds(quadkey(lat, lon, 18));
      expect(lat).toBeGreaterThanOrEqual(b.south);
      expect(lat).toBeLessThanOrEqual(b.north);
      expect(lon).toBeGreaterThanOrEqual(b.west);
      expect(lon).toBeLessThanOrEqual(b.east);
      expect(b.east - b.west).toBeCloseTo(360 / 2 ** 18, 9);
    }
  });

  test("round trip: the centre of a tile maps back to the same key", () => {
    const key = "0313331232010333031221303";
    const b = quadkeyBounds(key);
    expect(quadkey((b.north + b.south) / 2, (b.east + b.west) / 2, key.length)).toBe(key);
  });

  test("rejects a key with other digits", () => {
    expect(() => quadkeyBounds("0124")).toThrow(/quadkey "0124"/);
    expect(() => quadkeyBounds("")).toThrow(/quadkey/);
  });
});
