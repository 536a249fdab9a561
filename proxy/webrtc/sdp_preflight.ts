/**
 * The CORS preflight (Fetch standard) of the WHIP and WHEP endpoints; `Accept-Post` tells
 * clients the offer type (RFC 9725 §4.2). Both answer it alike, only their `cors` headers differ.
 */
import { SDP_CONTENT_TYPE } from "../../shared/mod.ts";

/** A handler that answers an OPTIONS request with 204, `cors` and the allowed `methods`. */
export function sdpPreflight(cors: Record<string, string>, methods: string): () => Response {
  return () =>
    new Response(null, {
      status: 204,
      headers: {
        ...cors,
        "access-control-allow-methods": methods,
        "access-control-allow-headers": "authorization, content-type",
        "access-control-max-age": "600",
        "accept-post": SDP_CONTENT_TYPE,
      },
    });
}
