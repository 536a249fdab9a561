/**
 * Static API tokens with a role: `ROLE:TOKEN` on the command line and in `VSB_API_TOKENS`,
 * and one `ROLE:TOKEN [NAME]` per line in `--api-token-file` (`#` starts a comment line).
 * NAME is who the token stands for in logs and as the owner of its dataflows; without one
 * it is `token-` and the first 12 hex digits of the token's SHA-256 (not the token).
 *
 * A token without a role is refused: taking it as `operator` would keep every vehicle's
 * token able to stop or watch every other vehicle, the hole roles close.
 */
import { createHash } from "node:crypto";
import { isRole, type Role, ROLES } from "./role_names.ts";

/** One static token. */
export interface ApiToken {
  role: Role;
  token: string;
  name: string;
}

const TOKEN = /^[\x21-\x2b\x2d-\x7e]{16,512}$/; // printable ASCII without space and comma
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** Why `ROLE:TOKEN` items are refused; never echoes the token. */
export const TOKEN_FORMAT = `must be ROLE:TOKEN with ROLE ${ROLES.join(", ")} and TOKEN 16 to 512 printable characters without space or comma`;

/** The default name of a token: a short digest that identifies it without revealing it. */
export function tokenName(token: string): string {
  return `token-${createHash("sha256").update(token).digest("hex").slice(0, 12)}`;
}

/** Parses `ROLE:TOKEN`; returns the token, or why it is wrong (without the token). */
export function parseApiToken(text: string, name?: string): ApiToken | string {
  const colon = text.indexOf(":");
  const role = colon > 0 ? text.slice(0, colon) : "";
  const token = text.slice(colon + 1);
  if (!isRole(role)) {
    return colon > 0 ? `role "${role.slice(0, 16)}" is not one of ${ROLES.join(", ")}` : `${TOKEN_FORMAT} (a token without a role is no longer accepted: write operator:TOKEN for the old meaning)`;
  }
  if (!TOKEN.test(token)) return TOKEN_FORMAT;
  if (name !== undefined && !NAME.test(name)) return "NAME must be 1 to 64 of A-Z a-z 0-9 . _ @ -";
  return { role, token, name: name ?? tokenName(token) };
}

/** Parses a token file; throws an Error naming the line (never the token) on a bad one. */
export function parseTokenFile(text: string): ApiToken[] {
  const out: ApiToken[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith("#")) continue;
    const [spec, name, ...rest] = line.split(/\s+/);
    const parsed = rest.length > 0 ? "must be ROLE:TOKEN [NAME]" : parseApiToken(spec!, name);
    if (typeof parsed === "string") throw new Error(`line ${i + 1}: ${parsed}`);
    out.push(parsed);
  }
  return out;
}
