/**
 * Who is calling: `Authorization: Bearer <token>` is a static token (compared as SHA-256
 * digests with `timingSafeEqual` against every configured token, so timing reveals neither
 * which token nor how much of it matched) or, with `--jwks-url`, a JWT verified by hono's
 * own JWK middleware (see jwt_auth.ts). Without any of them configured the API is open and
 * every caller is {@link ANONYMOUS} (all roles): main allows that on loopback only, or with
 * `--insecure-open`.
 */
import { hash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import type { ApiToken } from "../config/api_tokens.ts";
import { HttpError } from "./http_error.ts";
import { type JwtAuthOptions, jwtVerifier } from "./jwt_auth.ts";
import { ANONYMOUS, type Identity } from "./roles.ts";

function digest(token: string): Buffer {
  return hash("sha256", token, "buffer") as Buffer; // one-shot: a quarter of createHash's cost
}

/** The index of `token` among the `digests` (or -1), in constant time per token. */
export function tokenIndex(digests: readonly Buffer[], token: string): number {
  const given = digest(token);
  let found = -1;
  for (let i = 0; i < digests.length; i++) if (timingSafeEqual(digests[i]!, given)) found = i;
  return found;
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** How callers prove who they are. */
export interface AuthOptions {
  /** Static tokens with their roles. */
  tokens?: readonly ApiToken[];
  /** OIDC bearer JWTs. */
  jwt?: JwtAuthOptions;
}

/** Finds the identity of a request; throws HttpError 401 when it has none that counts. */
export type Authenticate = (c: Context) => Promise<Identity>;

/** True when `options` configure no way to authenticate (the API is open). */
export function authIsOpen(options: AuthOptions): boolean {
  return (options.tokens?.length ?? 0) === 0 && !options.jwt;
}

/** The authenticator for `options`. */
export function authenticator(options: AuthOptions): Authenticate {
  const tokens = options.tokens ?? [];
  const digests = tokens.map((t) => digest(t.token));
  const identities: Identity[] = tokens.map((t) => ({ name: `token:${t.name}`, roles: new Set([t.role]) }));
  const verifyJwt = options.jwt ? jwtVerifier(options.jwt) : undefined;
  if (authIsOpen(options)) return () => Promise.resolve(ANONYMOUS);
  return async (c) => {
    const token = bearerToken(c.req.header("authorization"));
    if (token === undefined) throw new HttpError(401, "missing Authorization: Bearer token");
    const i = tokenIndex(digests, token);
    if (i >= 0) return identities[i]!;
    // A JWT has three base64url parts; anything else can only have been a static token.
    if (verifyJwt && token.split(".").length === 3) return await verifyJwt(c);
    throw new HttpError(401, "API token is not valid");
  };
}
