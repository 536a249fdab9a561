/** Error body of every 4xx/5xx answer of the proxy's API. */
import { z } from "zod";

export const ErrorBodySchema = z.object({ error: z.string(), details: z.unknown().optional() });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
