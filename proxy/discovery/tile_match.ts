/**
 * Which MECs serve a vehicle's tile, best first: 5GMETA's two-way prefix match
 * (data_5gmeta_functions.py `get_mecinstances_by_tile`), ordered.
 *
 * 1. MECs with a tile that is a prefix of the quadkey (the tile contains the vehicle's tile,
 *    or is it). 5GMETA answers these alone when there is any, and so do we. Longest tile
 *    first: the most specific MEC wins (a city MEC inside a region MEC's tile).
 * 2. Only when there is none: MECs with a tile that the quadkey is a prefix of (the vehicle's
 *    coarser tile contains theirs). Shortest tile first: the one covering most of it.
 *
 * Ties (the same tile length) go to the lower MEC id, i.e. the MEC registered first, which is
 * 5GMETA's order too (`GROUP BY mec.id`). A MEC is listed once, at its best tile.
 */
import type { TileRow } from "./mec_store.ts";

/** The ids of the MECs serving `quadkey`, best first (see the file comment). */
export function rankMecs(quadkey: string, rows: readonly TileRow[]): number[] {
  const covering = rows.filter((r) => quadkey.startsWith(r.tile));
  const pool = covering.length > 0 ? covering : rows.filter((r) => r.tile.startsWith(quadkey));
  const better = covering.length > 0 ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  const best = new Map<number, number>();
  for (const { mecId, tile } of pool) {
    const seen = best.get(mecId);
    if (seen === undefined || better(tile.length, seen)) best.set(mecId, tile.length);
  }
  const sign = covering.length > 0 ? -1 : 1;
  return [...best].sort(([idA, lenA], [idB, lenB]) => sign * (lenA - lenB) || idA - idB).map(([id]) => id);
}
