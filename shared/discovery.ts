/**
 * Discovery answer (5GMETA steps 1–2): `GET {discoveryUrl}/mec/tile/{quadkey}` lists the
 * MECs that serve a tile and their services (`message-broker`, `registration-api`,
 * `video-broker`). vsb adds an optional full `url` per service (scheme and path included).
 *
 * The 5GMETA discovery service answers `"port": "12346"` (a string), and 2022 sensors build
 * URLs as `":" + port`, which only works on a string; vsb's own answer therefore sends
 * strings too, and readers accept a number or a numeric string (see {@link portNumber}).
 * 5GMETA names the MEC `id`, vsb `mec_id`; either is read, and other fields are ignored.
 */
import { z } from "zod";

function isPort(value: number | string): boolean {
  const n = typeof value === "number" ? value : /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

const portMessage = (input: unknown) => `port ${JSON.stringify(input)} must be a number or a numeric string from 1 to 65535`;

/** A TCP/UDP port as discovery carries it: a number, or a string of digits ("12346"). */
export const ServicePortSchema = z
  .union([z.number(), z.string()], { error: (issue) => portMessage(issue.input) })
  .refine(isPort, { error: (issue) => portMessage(issue.input) });
export type ServicePort = z.infer<typeof ServicePortSchema>;

/** The port of a parsed {@link Service} as a number. */
export function portNumber(port: ServicePort): number {
  return typeof port === "number" ? port : Number(port);
}

/** One service of a MEC; `port` stays as sent (use {@link portNumber}). */
export const ServiceSchema = z.object({
  service_name: z.string(),
  ip: z.string(),
  port: ServicePortSchema,
  url: z.string().optional(),
});
export type Service = z.infer<typeof ServiceSchema>;

const MecIdSchema = z.union([z.string(), z.number()]);

/** One MEC serving the tile, with its services. */
export const MecSchema = z.object({
  /** vsb's name of the MEC id. */
  mec_id: MecIdSchema.optional(),
  /** The 5GMETA discovery service's name of the MEC id. */
  id: MecIdSchema.optional(),
  sb_services: z.array(ServiceSchema),
});
export type Mec = z.infer<typeof MecSchema>;

/** The whole answer: MECs serving the tile, best first. */
export const DiscoverySchema = z.array(MecSchema);
export type Discovery = z.infer<typeof DiscoverySchema>;
