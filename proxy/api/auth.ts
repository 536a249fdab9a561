/**
 * Who is calling: `Authorization: Bearer <token>` is a static token (looked up by its SHA-256
 * digest, so timing reveals neither which token nor how much of it matched) or, with
 * `--jwks-url`, a JWT verified by hono's own JWK middleware (see jwt_auth.ts). Without any of
 * them configured the API is open and every caller is {@link ANONYMOUS} (all roles): main allows that on loopback only, or with
 * `--insecure-open`.
 */
import { hash } from "node:crypto";
import type { Context } from "hono";
import type { ApiToken } from "../config/api_tokens.ts";
import { HttpError } from "./http_error.ts";
import { type JwtAuthOptions, jwtVerifier } from "./jwt_auth.ts";
import { ANONYMOUS, type Identity } from "./roles.ts";

/**
 * Static tokens by the base64 of their SHA-256 digest: one map lookup per request however many
 * tokens there are. The lookup compares digests, never the token itself: its timing can at most
 * tell how the digest of what was sent compares with a stored one, and a digest does not lead
 * back to its token. The last of duplicate tokens wins.
 */
export function tokenTable<T>(entries: readonly (readonly [token: string, value: T])[]): (token: string) => T | undefined {
  const byDigest = new Map<string, T>(entries.map(([token, value]) => [hash("sha256", token, "base64") as string, value]));
  return (token) => byDigest.get(hash("sha256", token, "base64") as string);
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined;
  // The usual form, "Bearer TOKEN", without the regex's match array.
  if (header.startsWith("Bearer ") && header.length > 7 && !/\s/.test(header.slice(7))) return header.slice(7);
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

/**
 * Finds the identity of a request; throws HttpError 401 when it has none that counts. A static
 * token is answered without a promise (the keep-alive's path), a JWT with one.
 */
export type Authenticate = (c: Context) => Identity | Promise<Identity>;

/** True when `options` configure no way to authenticate (the API is open). */
export function authIsOpen(options: AuthOptions): boolean {
  return (options.tokens?.length ?? 0) === 0 && !options.jwt;
}

/** The authenticator for `options`. */
export function authenticator(options: AuthOptions): Authenticate {
  const tokens = options.tokens ?? [];
  const identityOf = tokenTable(tokens.map((t): [string, Identity] => [t.token, { name: `token:${t.name}`, roles: new Set([t.role]) }]));
  const verifyJwt = options.jwt ? jwtVerifier(options.jwt) : undefined;
  if (authIsOpen(options)) return () => ANONYMOUS;
  return (c) => {
    const token = bearerToken(c.req.header("authorization"));
    if (token === undefined) throw new HttpError(401, "missing Authorization: Bearer token");
    const identity = identityOf(token);
    if (identity) return identity;
    // A JWT has three base64url parts; anything else can only have been a static token.
    if (verifyJwt && token.split(".").length === 3) return verifyJwt(c);
    throw new HttpError(401, "API token is not valid");
  };
}
