/**
 * Demand leases: a consumer says "I want this" for a while, and `send` is true for every
 * dataflow that a live lease matches (DESIGN.md, "Demand decides send").
 */
import { z } from "zod";

/** Longest lease a consumer may take; it renews with `PUT /demands/{id}`. */
export const MAX_DEMAND_TTL_SECONDS = 3600;

/** Body of `POST /demands` and `PUT /demands/{id}`: one selector at least, and a TTL. */
export const DemandRequestSchema = z
  .object({
    dataflowId: z.number().int().positive().optional(),
    quadkey: z.string().regex(/^[0-3]{1,31}$/, "must be a quadkey prefix (digits 0-3)").optional(),
    dataType: z.string().min(1).max(64).optional(),
    ttlSeconds: z.number().int().min(1).max(MAX_DEMAND_TTL_SECONDS).default(30),
  })
  .refine((d) => d.dataflowId !== undefined || d.quadkey !== undefined || d.dataType !== undefined, {
    message: "needs one of dataflowId, quadkey, dataType",
  });
export type DemandRequest = z.output<typeof DemandRequestSchema>;

/** Body of `PUT /demands/{id}` (renewal): only the TTL may change. */
export const DemandRenewSchema = z.object({
  ttlSeconds: z.number().int().min(1).max(MAX_DEMAND_TTL_SECONDS).default(30),
});

/** A lease as the API answers it. `expiresAt` is ISO 8601. */
export const DemandLeaseSchema = z.object({
  id: z.string(),
  dataflowId: z.number().int().positive().optional(),
  quadkey: z.string().optional(),
  dataType: z.string().optional(),
  ttlSeconds: z.number().int(),
  expiresAt: z.string(),
});
export type DemandLease = z.infer<typeof DemandLeaseSchema>;
