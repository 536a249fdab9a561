/**
 * The Discovery API's MEC side, as 5GMETA's discovery service (github.com/5gmeta/discovery,
 * swagger.yaml `MECCreation`/`MECInstance`/`GeolocationTile`, data_5gmeta_functions.py) has it:
 *
 *   POST   /mec                    MECCreation → 200 {"mec_id": "1"} (a string, as 5GMETA answers)
 *   POST   /mec/{id}/tile/{tile}   → 200 {"message": "Added"}
 *   GET    /mec/tile/{quadkey}     → 200 [MECInstance, …] best first ([] when none serves it)
 *   GET    /mec, /mec/{id}         → 200 [MECInstance, …]
 *   DELETE /mec/{id}               → 200 {"mec_id", "message": "MEC deleted"}
 *   DELETE /mec/{id}/tile/{tile}   → 200 {"mec_id", "message": "Tile deleted", "tile"}
 *
 * vsb differs where 5GMETA is not idempotent: a MEC is known by its `name` (vsb-proxy's
 * `--mec-id`), so a second POST /mec with the same name updates that MEC (same id) instead of
 * adding another, and its `geolocation`, when given, becomes the MEC's whole tile list; with
 * `ttlSeconds` its registration lapses unless renewed.
 */
import { z } from "zod";
import { ServiceSchema } from "./discovery.ts";
import { isQuadkey } from "./quadkey.ts";

const TEXT = 256;

/** A tile a MEC serves: a quadkey of 1 to 31 digits 0-3 (5GMETA itself takes 6 to 16). */
export const TileSchema = z.string().refine(isQuadkey, "must be a quadkey of 1 to 31 digits 0-3");

/** One item of `geolocation`: 5GMETA's `tile-id`, and `zoom-level` (its length; ignored when sent). */
export const GeolocationTileSchema = z.object({
  "tile-id": TileSchema,
  "zoom-level": z.number().int().min(1).max(31).optional(),
});
export type GeolocationTile = z.infer<typeof GeolocationTileSchema>;

/** A service of a MEC as registered: the discovery answer's fields plus 5GMETA's `description`/`props`. */
export const RegisteredServiceSchema = ServiceSchema.extend({
  service_name: z.string().min(1).max(TEXT),
  ip: z.string().min(1).max(TEXT),
  url: z.string().max(2048).optional(),
  description: z.string().max(TEXT).optional(),
  props: z.unknown().optional(),
});
export type RegisteredService = z.infer<typeof RegisteredServiceSchema>;

/** Largest tile list of one MEC (a 64 KiB body holds about 2000 zoom-18 tiles). */
export const MAX_MEC_TILES = 1024;

/** Body of `POST /mec` (5GMETA `MECCreation`); `name` is required in vsb: it identifies the MEC. */
export const MecCreationSchema = z.object({
  name: z.string().trim().min(1).max(128),
  lat: z.string().max(64).optional(),
  lng: z.string().max(64).optional(),
  organization: z.string().max(TEXT).optional(),
  resources: z.record(z.string(), z.unknown()).optional(),
  sb_services: z.array(RegisteredServiceSchema).min(1).max(64),
  props: z.record(z.string(), z.unknown()).optional(),
  geolocation: z.array(GeolocationTileSchema).max(MAX_MEC_TILES).optional(),
  /**
   * vsb: the registration lapses this many seconds after this POST unless the MEC posts again
   * (a MEC that died without deregistering stops being named); absent: it never lapses, as in 5GMETA.
   */
  ttlSeconds: z.number().int().min(1).max(7 * 86_400).optional(),
});
export type MecCreation = z.infer<typeof MecCreationSchema>;

/** Answer of `POST /mec`: the MEC's id as a string, as 5GMETA answers it. */
export const MecCreatedSchema = z.object({ mec_id: z.string() });
export type MecCreated = z.infer<typeof MecCreatedSchema>;

/**
 * One MEC in an answer (5GMETA `MECInstance`): `id` is the discovery service's number; vsb adds
 * `mec_id`, the MEC's name, which is what vsb-proxy's own discovery answer calls its MEC.
 */
export interface MecInstance {
  id: number;
  mec_id: string;
  name: string;
  lat?: string;
  lng?: string;
  organization?: string;
  resources?: Record<string, unknown>;
  props?: Record<string, unknown>;
  sb_services: RegisteredService[];
  geolocation: Required<GeolocationTile>[];
  /** vsb: when the registration lapses (ms since the epoch), for a MEC registered with `ttlSeconds`. */
  expiresAt?: number;
}
