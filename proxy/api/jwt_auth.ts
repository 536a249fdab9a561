/**
 * OIDC bearer tokens (Keycloak or any issuer with a JWKS): the signature, `exp`/`nbf`/`iat`,
 * `iss` and `aud` are verified by hono's own JWK middleware (`hono/jwk`, RFC 7515/7517/7519);
 * nothing here checks a signature. What this file adds:
 *
 * - the JWKS is fetched once and cached (hono's `jwks_uri` would fetch it on every request),
 *   refreshed after `maxAgeMs`, or when a token names a `kid` the cache lacks (key rotation)
 *   but at most once per `refreshCooldownMs`, so random `kid`s cannot hammer the issuer;
 * - a token must carry `exp` (hono checks it only when present) and `sub` (the identity);
 * - the roles come from the claim at `roleClaim` (dotted path; an array or a space-separated
 *   string), keeping only sensor/consumer/operator;
 * - a verified token's identity is cached until its `exp`, while the keys it was verified
 *   against are current (identity_cache.ts): a keep-alive does not verify a signature each time.
 */
import { hash } from "node:crypto";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { jwk } from "hono/jwk";
import { decode } from "hono/jwt";
import { HttpError } from "./http_error.ts";
import { IdentityCache } from "./identity_cache.ts";
import { isRole, type Role } from "../config/role_names.ts";
import type { Identity } from "./roles.ts";

/** OIDC settings; defaults in brackets. */
export interface JwtAuthOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** Dotted path of the roles claim, e.g. `realm_access.roles`. */
  roleClaim: string;
  /** Keys older than this are fetched again [600000]. */
  maxAgeMs?: number;
  /** At most one fetch per this long for an unknown `kid` [30000]. */
  refreshCooldownMs?: number;
  /** Timeout of one JWKS fetch [5000]. */
  fetchTimeoutMs?: number;
  fetch?: (url: string, init?: RequestInit) => Promise<Response>;
  now?: () => number;
  /** Told when a fetch fails (the cause; never a token). */
  onFetchError?: (error: unknown) => void;
}

/** Every asymmetric JWS algorithm hono verifies (RFC 7518 §3); symmetric ones never pass a JWKS. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;

/** hono's verification errors (by name) as a short reason; their own messages carry the token. */
const REASONS: Record<string, string> = {
  JwtTokenExpired: "JWT has expired",
  JwtTokenNotBefore: "JWT is not valid yet",
  JwtTokenIssuedAt: "JWT is issued in the future",
  JwtTokenIssuer: "JWT has the wrong issuer",
  JwtTokenAudience: "JWT has the wrong audience",
  JwtPayloadRequiresAud: "JWT has the wrong audience",
  JwtTokenSignatureMismatched: "JWT signature does not verify",
  JwtTokenInvalid: "JWT is malformed or signed by an unknown key",
  JwtHeaderInvalid: "JWT header is invalid",
  JwtHeaderRequiresKid: "JWT header has no kid",
  JwtAlgorithmNotAllowed: "JWT algorithm is not allowed",
  JwtSymmetricAlgorithmNotAllowed: "JWT algorithm is not allowed",
  JwtAlgorithmMismatch: "JWT algorithm does not match its key",
};

/** The JWKS could not be had; thrown as a plain Error so hono's middleware passes it through. */
const UNAVAILABLE = "JWKS unavailable";

type Jwk = { kid?: string } & Record<string, unknown>;

/** hono's JWK type, as its middleware takes keys. */
type HonoKeys = Extract<NonNullable<Parameters<typeof jwk>[0]["keys"]>, unknown[]>;

/** The issuer's keys, fetched lazily and cached. */
export class JwksCache {
  #keys: Jwk[] | undefined;
  #fetchedAt = -Infinity;
  #inflight: Promise<void> | undefined;
  #generation = 0;
  readonly #o: Required<Omit<JwtAuthOptions, "issuer" | "audience" | "roleClaim" | "onFetchError">> & Pick<JwtAuthOptions, "onFetchError">;

  constructor(options: JwtAuthOptions) {
    this.#o = {
      maxAgeMs: 600_000, refreshCooldownMs: 30_000, fetchTimeoutMs: 5_000, fetch: (url, init) => fetch(url, init), now: Date.now, ...options,
    };
  }

  /** Counts changes of the fetched keys: identities verified against older keys are verified again. */
  get generation(): number {
    return this.#generation;
  }

  /** True while the keys are younger than `maxAgeMs` (past it, the next verification fetches them). */
  fresh(): boolean {
    return this.#keys !== undefined && this.#o.now() - this.#fetchedAt <= this.#o.maxAgeMs;
  }

  /** The keys to verify a token with `kid`; throws a plain Error when none could ever be fetched. */
  async keysFor(kid: string | undefined): Promise<Jwk[]> {
    const age = this.#o.now() - this.#fetchedAt;
    const unknownKid = kid !== undefined && !this.#keys?.some((k) => k.kid === kid);
    if (!this.#keys || age > this.#o.maxAgeMs || (unknownKid && age > this.#o.refreshCooldownMs)) await this.#refresh();
    if (!this.#keys) throw new Error(UNAVAILABLE);
    return this.#keys;
  }

  #refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  async #fetch(): Promise<void> {
    this.#fetchedAt = this.#o.now(); // also on failure: the cooldown holds for a failing issuer
    try {
      const res = await this.#o.fetch(this.#o.jwksUrl, { signal: AbortSignal.timeout(this.#o.fetchTimeoutMs) });
      if (!res.ok) throw new Error(`GET "${this.#o.jwksUrl}" answered ${res.status}`);
      const body = await res.json() as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error(`GET "${this.#o.jwksUrl}" answered no "keys" array`);
      const keys = body.keys.filter((k): k is Jwk => typeof k === "object" && k !== null);
      if (JSON.stringify(keys) !== JSON.stringify(this.#keys)) this.#generation++;
      this.#keys = keys;
    } catch (error) {
      this.#o.onFetchError?.(error); // stale keys, if any, stay in use
    }
  }
}

/** The value at dotted `path` of `payload`. */
function claimAt(payload: unknown, path: string): unknown {
  let value = payload;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** The vsb roles named by the claim at `path` (others are ignored). */
export function rolesFromClaim(payload: unknown, path: string): Set<Role> {
  const value = claimAt(payload, path);
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(/\s+/) : [];
  return new Set(items.filter(isRole));
}

function kidOf(token: string): string | undefined {
  try {
    const kid = decode(token).header.kid;
    return typeof kid === "string" ? kid : undefined;
  } catch {
    return undefined; // malformed: hono's middleware refuses it with its reason
  }
}

/** A verifier of bearer JWTs for {@link authenticator}: the identity, or HttpError 401/503. */
export function jwtVerifier(options: JwtAuthOptions): (c: Context) => Promise<Identity> {
  const cache = new JwksCache(options);
  const middleware = jwk({
    keys: async (c) => (await cache.keysFor(kidOf(bearerOf(c)))) as unknown as HonoKeys,
    alg: [...ALGORITHMS],
    verification: { iss: options.issuer, aud: options.audience },
  });
  const identities = new IdentityCache();
  return async (c) => {
    const key = hash("sha256", bearerOf(c), "base64") as string;
    const cached = cache.fresh() ? identities.get(key, cache.generation) : undefined;
    if (cached) return cached;
    try {
      await middleware(c, () => Promise.resolve());
    } catch (err) {
      if (err instanceof HTTPException) {
        const cause = err.cause instanceof Error ? REASONS[err.cause.name] : undefined;
        throw new HttpError(401, cause ?? "JWT is not valid");
      }
      if (err instanceof Error && err.message === UNAVAILABLE) throw new HttpError(503, `JWKS "${options.jwksUrl}" could not be fetched`);
      throw err;
    }
    const payload = c.get("jwtPayload") as Record<string, unknown>;
    if (typeof payload.exp !== "number") throw new HttpError(401, "JWT has no exp claim");
    if (typeof payload.sub !== "string" || payload.sub === "") throw new HttpError(401, "JWT has no sub claim");
    const identity: Identity = { name: `oidc:${payload.sub}`, roles: rolesFromClaim(payload, options.roleClaim) };
    identities.set(key, identity, payload.exp * 1000, cache.generation);
    return identity;
  };
}

function bearerOf(c: Context): string {
  return (c.req.header("authorization") ?? "").replace(/^Bearer\s+/i, "").trim();
}
