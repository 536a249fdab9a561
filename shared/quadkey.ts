/**
 * Bing-maps quadkeys of WGS84 points, reproducing pygeotile 1.0.6 exactly (the library
 * the 5GMETA sensors used), so tiles computed here match tiles already stored there.
 *
 * pygeotile's path: lat/lon → spherical-mercator metres → pixels at `zoom` (Python's
 * `round`, i.e. half to even, then `abs`) → TMS tile `ceil(px / 256) - 1` → quadkey,
 * one digit per zoom level, most significant first:
 *
 *   digit = (x bit) + 2 × (y bit)      0 │ 1
 *                                      ──┼──
 *                                      2 │ 3
 */

const TILE_SIZE = 256;
const EARTH_RADIUS = 6378137;
const ORIGIN_SHIFT = (2 * Math.PI * EARTH_RADIUS) / 2;
const INITIAL_RESOLUTION = (2 * Math.PI * EARTH_RADIUS) / TILE_SIZE;
/** Web Mercator's latitude limit; beyond it tiles are meaningless. */
export const MAX_LATITUDE = 85.05112878;
/** pygeotile accepts zoom levels up to 31 (JavaScript bitwise operators are 32-bit). */
export const MAX_ZOOM = 31;

/** Python 3's `round()`: half to even. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function checkZoom(zoom: number): void {
  if (!Number.isInteger(zoom) || zoom < 1 || zoom > MAX_ZOOM) {
    throw new RangeError(`zoom "${zoom}" must be an integer from 1 to ${MAX_ZOOM}`);
  }
}

/** Throws a RangeError naming the value when (lat, lon) is not a usable position. */
export function checkPosition(lat: number, lon: number): void {
  if (!Number.isFinite(lat) || Math.abs(lat) > MAX_LATITUDE) {
    throw new RangeError(`latitude "${lat}" must be a number from -${MAX_LATITUDE} to ${MAX_LATITUDE}`);
  }
  if (!Number.isFinite(lon) || Math.abs(lon) > 180) {
    throw new RangeError(`longitude "${lon}" must be a number from -180 to 180`);
  }
}

/** The quadkey (digits 0–3, one per zoom level) of the tile that holds (lat, lon). */
export function quadkey(lat: number, lon: number, zoom: number): string {
  checkPosition(lat, lon);
  checkZoom(zoom);
  const resolution = INITIAL_RESOLUTION / 2 ** zoom;
  const meterX = (lon * ORIGIN_SHIFT) / 180;
  const meterY = ((Math.log(Math.tan(((90 + lat) * Math.PI) / 360)) / (Math.PI / 180)) * ORIGIN_SHIFT) / 180;
  const pixelX = Math.abs(roundHalfEven((meterX + ORIGIN_SHIFT) / resolution));
  const pixelY = Math.abs(roundHalfEven((meterY - ORIGIN_SHIFT) / resolution));
  const tileX = Math.ceil(pixelX / TILE_SIZE) - 1;
  const googleY = Math.ceil(pixelY / TILE_SIZE) - 1; // pygeotile's tms_y, flipped twice
  let key = "";
  for (let i = zoom; i > 0; i--) {
    const mask = 1 << (i - 1);
    key += String(((tileX & mask) !== 0 ? 1 : 0) + ((googleY & mask) !== 0 ? 2 : 0));
  }
  return key;
}

/** True when `value` is a quadkey: 1 to 31 digits 0–3. */
export function isQuadkey(value: string): boolean {
  return /^[0-3]{1,31}$/.test(value);
}

/** Geographic bounds of a tile, in degrees. */
export interface TileBounds {
  south: number;
  west: number;
  north: number;
  east: number;
}

function tileToLon(x: number, zoom: number): number {
  return (x / 2 ** zoom) * 360 - 180;
}

function tileToLat(y: number, zoom: number): number {
  const n = Math.PI - (2 * Math.PI * y) / 2 ** zoom;
  return (180 / Math.PI) * Math.atan(Math.sinh(n));
}

/** Inverse of {@link quadkey}: the bounding box of the tile a quadkey names. */
export function quadkeyBounds(key: string): TileBounds {
  if (!isQuadkey(key)) throw new RangeError(`quadkey "${key}" must be 1 to 31 digits 0-3`);
  let x = 0;
  let y = 0;
  for (const ch of key) {
    const digit = ch.charCodeAt(0) - 48;
    x = x * 2 + (digit & 1);
    y = y * 2 + (digit >> 1);
  }
  const zoom = key.length;
  return { west: tileToLon(x, zoom), east: tileToLon(x + 1, zoom), north: tileToLat(y, zoom), south: tileToLat(y + 1, zoom) };
}
