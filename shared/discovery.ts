/**
 * Discovery answer (5GMETA steps 1–2): `GET {discoveryUrl}/mec/tile/{quadkey}` lists the
 * MECs that serve a tile and their services (`message-broker`, `registration-api`,
 * `video-broker`). vsb adds an optional full `url` per service (scheme and path included).
 */
import { z } from "zod";

export const ServiceSchema = z.object({
  service_name: z.string(),
  ip: z.string(),
  port: z.number().int().min(1).max(65535),
  url: z.string().optional(),
});
export type Service = z.infer<typeof ServiceSchema>;

export const MecSchema = z.object({
  mec_id: z.union([z.string(), z.number()]),
  sb_services: z.array(ServiceSchema),
});
export type Mec = z.infer<typeof MecSchema>;

/** The whole answer: MECs serving the tile, best first. */
export const DiscoverySchema = z.array(MecSchema);
export type Discovery = z.infer<typeof DiscoverySchema>;
