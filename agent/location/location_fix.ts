/**
 * Where the sensor is: a position and its quadkeys — zoom 18 for discovery and registration,
 * zoom 25 for message headers (DESIGN.md, "Discovery").
 */
import { DISCOVERY_ZOOM, HEADER_ZOOM, quadkey } from "../../shared/mod.ts";

/** A WGS84 position. */
export interface Position {
  lat: number;
  lon: number;
}

/** A position with its tiles. */
export interface LocationFix extends Position {
  /** Zoom 18: discovery and `locationQuadkey` in the registration. */
  tile: string;
  /** Zoom 25: `locationQuadkey` in message headers. */
  headerTile: string;
}

/** The fix of a position; throws a RangeError naming a bad latitude or longitude. */
export function locationFix(position: Position): LocationFix {
  return {
    lat: position.lat,
    lon: position.lon,
    tile: quadkey(position.lat, position.lon, DISCOVERY_ZOOM),
    headerTile: quadkey(position.lat, position.lon, HEADER_ZOOM),
  };
}
