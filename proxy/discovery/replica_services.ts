/**
 * Several replicas of one MEC (K proxies on one PostgreSQL, issue #13) register under the same
 * `--mec-id` name, each with its own `registration-api` and `video-broker` entries. A POST
 * that carries `ttlSeconds` (every replica's does) therefore adds its entries beside those
 * of the others instead of replacing them; each entry lapses on its own, so a replica that
 * died stops being named after its ttl while the others keep the MEC alive:
 *
 *   stored  [A.reg ⏱t1, A.video ⏱t1]  +  POST from B (ttl)  →  [B.reg ⏱t2, B.video ⏱t2, A.reg ⏱t1, A.video ⏱t1]
 *   POST without ttlSeconds (5GMETA's manual registration)   →  exactly the posted list, as before
 *
 * An entry is known by its name and address (`url`, else `ip:port`); message-broker entries
 * are the same for every replica of a MEC, so they merge to one each. Pure functions.
 */
import { type RegisteredService, SERVICE } from "../../shared/mod.ts";

/** A service as stored: with the time it lapses (ms) when it was registered with a ttl. */
export type StoredService = RegisteredService & { expiresAt?: number };

const keyOf = (s: RegisteredService) => `${s.service_name} ${s.url ?? `${s.ip}:${s.port}`}`;

/**
 * The services stored after a POST of `posted` at `now`: with `expiresAt` (the POST's ttl),
 * the posted entries plus every stored entry of another address that has not lapsed;
 * without, the posted entries alone.
 */
export function mergeServices(stored: readonly StoredService[], posted: readonly RegisteredService[], now: number, expiresAt: number | null): StoredService[] {
  if (expiresAt === null) return posted.map((s) => ({ ...s }));
  const mine = posted.map((s): StoredService => ({ ...s, expiresAt }));
  const keys = new Set(mine.map(keyOf));
  const others = stored.filter((s) => !keys.has(keyOf(s)) && s.expiresAt !== undefined && s.expiresAt > now);
  return [...mine, ...others];
}

/** When a MEC with `services` lapses: its latest entry's time, or `expiresAt` when none has one. */
export function mecExpiry(services: readonly StoredService[], expiresAt: number | null): number | null {
  if (expiresAt === null) return null;
  return Math.max(expiresAt, ...services.map((s) => s.expiresAt ?? 0));
}

/** The entries an answer names at `now`: lapsed ones left out, the stored times stripped. */
export function liveServices(services: readonly StoredService[], now: number): RegisteredService[] {
  return services.filter((s) => s.expiresAt === undefined || s.expiresAt > now).map(({ expiresAt: _, ...s }) => s);
}

/**
 * `services` without the entries at `url` (a replica leaving); undefined when no
 * registration API is left, so the MEC goes (the shared broker entries go with it).
 */
export function withoutServicesAt(services: readonly StoredService[], url: string): StoredService[] | undefined {
  const rest = services.filter((s) => s.url !== url);
  return rest.some((s) => s.service_name === SERVICE.registrationApi) ? rest : undefined;
}
