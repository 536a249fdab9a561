/**
 * API authentication: with tokens configured, every route except the public ones needs
 * `Authorization: Bearer <token>`. Tokens are compared as SHA-256 digests with
 * `timingSafeEqual`, against every configured token, so timing reveals neither which
 * token nor how much of it matched.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HttpError } from "./http_error.ts";

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** True when `token` is one of the `digests`, in constant time per token. */
export function tokenMatches(digests: readonly Buffer[], token: string): boolean {
  const given = digest(token);
  let ok = false;
  for (const d of digests) ok = timingSafeEqual(d, given) || ok;
  return ok;
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** Middleware requiring one of `tokens`; lets everything through when there are none. */
export function requireApiToken(tokens: readonly string[], isPublic: (path: string) => boolean = () => false): MiddlewareHandler {
  const digests = tokens.map(digest);
  return async (c, next) => {
    if (digests.length > 0 && !isPublic(c.req.path)) {
      const token = bearerToken(c.req.header("authorization"));
      if (token === undefined) throw new HttpError(401, "missing Authorization: Bearer token");
      if (!tokenMatches(digests, token)) throw new HttpError(401, "API token is not valid");
    }
    await next();
  };
}
