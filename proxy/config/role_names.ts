/**
 * The names of the API's roles (proxy/api/roles.ts says what each may do), here below the API
 * because `--api-token` and the token file name them too.
 */

/** Every role, least to most privileged. */
export const ROLES = ["sensor", "consumer", "operator"] as const;

/** One role. */
export type Role = (typeof ROLES)[number];

/** True when `value` names a role. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
