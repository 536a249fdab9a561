/**
 * Moving to another replica of the MEC's registration API (issue #13): discovery may name
 * several `registration-api` (and `video-broker`) services for one MEC — K proxies on one
 * PostgreSQL, any of which serves any dataflow. When the one in use stops answering
 * (connection refused, timeout, 5xx), the agent marks it down and takes the next one:
 *
 *   [A, B, C] in use A ──A unreachable──▶ A down (for holdMs) ──▶ in use B, same dataflow id
 *
 * `choose()` applies the marks to a fresh discovery answer, so a re-discovery does not lead
 * straight back to a replica that just failed; when every replica is down, the one marked
 * longest ago is tried. Pure: no I/O, time comes from the caller's clock.
 */
import type { Registration } from "../../shared/mod.ts";
import { RegistrationHttpError } from "../registration/registration_client.ts";
import type { Endpoints } from "./discover_endpoints.ts";

/** True for a failure another replica may not have: no answer, or a 5xx. */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof RegistrationHttpError)) return false;
  return error.status === undefined || error.status >= 500;
}

/** `url` with the origin (scheme, host, port) of `base`; path and query kept. */
function rebase(url: string, base: string): string {
  const u = new URL(url);
  const b = new URL(base);
  u.protocol = b.protocol;
  u.host = b.host;
  return u.toString();
}

const originOf = (url: string) => new URL(url).origin;

/** Which registration API replicas are down, and the choice among the rest. */
export class EndpointFailover {
  readonly #down = new Map<string, number>();
  readonly #now: () => number;
  readonly #holdMs: number;

  /** `holdMs` [60000]: how long a replica that failed is passed over. */
  constructor(now: () => number, options: { holdMs?: number } = {}) {
    this.#now = now;
    this.#holdMs = options.holdMs ?? 60_000;
  }

  #isDown(url: string): boolean {
    const at = this.#down.get(url);
    if (at === undefined) return false;
    if (this.#now() - at < this.#holdMs) return true;
    this.#down.delete(url);
    return false;
  }

  /** `e` with the first registration API not marked down in use (the longest-down one when all are). */
  choose(e: Endpoints): Endpoints {
    const urls = e.registrationUrls ?? [e.registrationUrl];
    const up = urls.find((u) => !this.#isDown(u));
    const pick = up ?? [...urls].sort((a, b) => (this.#down.get(a) ?? 0) - (this.#down.get(b) ?? 0))[0]!;
    return pick === e.registrationUrl ? e : { ...e, registrationUrl: pick };
  }

  /**
   * Marks `e.registrationUrl` down and answers the endpoints of the next replica, or
   * undefined when there is no other. A WHIP URL on the failed replica (the registration's,
   * or a discovered video broker's) moves to the new one's video broker, paired by position,
   * else to the new registration API's origin; a static `--whip-url` elsewhere stays.
   */
  next(e: Endpoints, reg?: Registration): Endpoints | undefined {
    const urls = e.registrationUrls ?? [e.registrationUrl];
    this.#down.set(e.registrationUrl, this.#now());
    // Every replica down: no quick move (the caller backs off, then `choose()` takes the longest-down).
    if (urls.every((u) => this.#isDown(u))) return undefined;
    const chosen = this.choose(e);
    const whip = e.whipUrl ?? reg?.ingest.whipUrl;
    const failed = originOf(e.registrationUrl);
    const i = urls.indexOf(chosen.registrationUrl);
    const brokers = e.videoBrokerUrls ?? [];
    const target = brokers.length === urls.length ? brokers[i]! : chosen.registrationUrl;
    const onFailed = whip !== undefined && [failed, ...brokers.filter((_, j) => j === urls.indexOf(e.registrationUrl)).map(originOf)].includes(originOf(whip));
    return onFailed ? { ...chosen, whipUrl: rebase(whip, target) } : chosen;
  }
}
