/**
 * The API's three roles (named in proxy/config/role_names.ts) and the identity a request
 * carries once authenticated.
 *
 *   sensor    registers dataflows; keeps alive, updates and deletes only those it registered
 *   consumer  reads dataflows, takes and manages its own demand leases, watches over WHEP
 *   operator  everything: every dataflow and lease, /metrics, the dashboard's API calls
 *
 * An identity's `name` is what the store records as the owner of what it creates: `token:NAME`
 * for a static token, `oidc:SUB` for a JWT, `anonymous` when the API runs without auth.
 */
import type { Context } from "hono";
import { type Role, ROLES } from "../config/role_names.ts";

/** Who made a request and what it may do. */
export interface Identity {
  name: string;
  roles: ReadonlySet<Role>;
}

/** The identity of every request when no auth is configured (loopback or `--insecure-open`). */
export const ANONYMOUS: Identity = { name: "anonymous", roles: new Set(ROLES) };

declare module "hono" {
  interface ContextVariableMap {
    identity: Identity;
  }
}

/** The identity the access middleware set on `c` (ANONYMOUS on a public route). */
export function identityOf(c: Context): Identity {
  return c.get("identity") ?? ANONYMOUS;
}

/** True when `identity` may act on something created by `owner` (the operator may act on all). */
export function owns(identity: Identity, owner: string | null | undefined): boolean {
  return identity.roles.has("operator") || (owner !== null && owner !== undefined && owner === identity.name);
}

/** The roles of `identity` as text for an error message, e.g. `"sensor"`. */
export function rolesText(identity: Identity): string {
  return identity.roles.size === 0 ? "no role" : [...identity.roles].map((r) => `"${r}"`).join(", ");
}
