/**
 * Identities of verified bearer JWTs, so that a sensor's keep-alive every few seconds does not
 * verify the same signature again each time. Keyed by the token's SHA-256 digest; an entry holds
 * until the token's `exp` (a token stops working the moment it expires, as hono's check would
 * refuse it) and only for the JWKS `generation` it was verified against (keys that changed or
 * went stale mean verifying again). Bounded: the least recently used entry goes first.
 */
import type { Identity } from "./roles.ts";

/** Entries kept at most, by default. */
export const IDENTITY_CACHE_MAX = 4096;

interface Entry {
  identity: Identity;
  /** Epoch ms from which the token is expired. */
  expiresAt: number;
  generation: number;
}

/** Verified identities by token digest. */
export class IdentityCache {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly max = IDENTITY_CACHE_MAX, readonly now: () => number = Date.now) {}

  /** The identity cached for `key` while it is unexpired and of `generation`; else undefined (and dropped). */
  get(key: string, generation: number): Identity | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.generation !== generation || this.now() >= entry.expiresAt) return undefined;
    this.#entries.set(key, entry); // most recently used last
    return entry.identity;
  }

  /** Caches `identity` for `key` until `expiresAt` (epoch ms), verified against `generation`. */
  set(key: string, identity: Identity, expiresAt: number, generation: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { identity, expiresAt, generation });
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get size(): number {
    return this.#entries.size;
  }
}
