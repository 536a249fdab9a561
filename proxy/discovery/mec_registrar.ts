/**
 * A MEC proxy registering itself and its tiles at a discovery service
 * (`--discovery-register-url`, `--mec-tiles`): `POST /mec` with its name (`--mec-id`), its
 * services (what its own discovery answer names) and its tiles as 5GMETA's `geolocation`.
 *
 *   start ──POST──▶ registered ──every --discovery-register-interval──▶ POST again (idempotent)
 *     │ fails                                                   │ fails
 *     ▼                                                         ▼
 *   retry after 1 s, 2 s, 4 s … (at most 30 s, or the interval); one log line per outage
 *   stop ──▶ DELETE /mec/{id}?service_url=OWN (clean shutdown: this replica's entries go; the
 *            MEC and its tiles go with the last replica)
 *
 * Re-registering is idempotent because the discovery service knows a MEC by its name: the
 * same POST updates the same row, and its tile list becomes exactly `--mec-tiles`, so a
 * discovery service that lost its database, or a MEC whose tiles changed, is right again
 * within one interval. Each POST carries `ttlSeconds` = 3 intervals: a MEC that dies without
 * deregistering is no longer named once three rounds are missed.
 */
import { type MecCreation, MecCreatedSchema, PATH, type RegisteredService, SERVICE } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import type { Series } from "../metrics.ts";

/** Cancels a pending timer. */
export type CancelTimer = () => void;

/** Options of {@link MecRegistrar}. */
export interface MecRegistrarOptions {
  /** Base URL of the discovery service. */
  url: string;
  /** Operator token at the discovery service (its writes are the operator's). */
  token?: string;
  /** This MEC's name (`--mec-id`). */
  name: string;
  services: RegisteredService[];
  tiles: string[];
  /** Period of re-registration, ms. */
  intervalMs: number;
  log: Logger;
  /** Attempts by result (`ok`, `failed`), e.g. `vsb_discovery_registrations_total`. */
  attempts?: Series;
  /** First retry delay [1000 ms]; doubles up to `maxRetryMs`. */
  firstRetryMs?: number;
  /** Longest retry delay [30000 ms, or the interval when shorter]. */
  maxRetryMs?: number;
  /** Per-request timeout [5000 ms]. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** One-shot timer [setTimeout]; tests pass a fake one. */
  after?: (ms: number, fn: () => void) => CancelTimer;
}

const realAfter = (ms: number, fn: () => void): CancelTimer => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

/** Keeps this MEC registered at the discovery service until {@link MecRegistrar.stop}. */
export class MecRegistrar {
  #mecId: number | undefined;
  #cancel: CancelTimer | undefined;
  #failures = 0;
  #stopped = false;
  #attempt: Promise<void> | undefined;
  readonly #o: MecRegistrarOptions;
  readonly #base: string;

  constructor(options: MecRegistrarOptions) {
    this.#o = options;
    this.#base = options.url.replace(/\/+$/, "");
  }

  /** The id the discovery service gave this MEC; undefined until the first registration. */
  get mecId(): number | undefined {
    return this.#mecId;
  }

  /** Consecutive failed attempts (0 while registered). */
  get failures(): number {
    return this.#failures;
  }

  /** The body of every `POST /mec`. */
  body(): MecCreation {
    return {
      name: this.#o.name, sb_services: this.#o.services, geolocation: this.#o.tiles.map((tile) => ({ "tile-id": tile })),
      // Three missed rounds and discovery stops naming this MEC (it died without deregistering).
      ttlSeconds: Math.min(7 * 86_400, Math.ceil((3 * this.#o.intervalMs) / 1000)),
    };
  }

  /** Registers now, then keeps registering (see the file comment). */
  start(): void {
    this.#run();
  }

  #run(): void {
    if (this.#stopped) return;
    this.#attempt = this.#register().then((ok) => {
      this.#attempt = undefined;
      if (this.#stopped) return;
      this.#cancel = (this.#o.after ?? realAfter)(ok ? this.#o.intervalMs : this.#retryMs(), () => this.#run());
    });
  }

  #retryMs(): number {
    const max = Math.min(this.#o.maxRetryMs ?? 30_000, this.#o.intervalMs);
    return Math.min(max, (this.#o.firstRetryMs ?? 1000) * 2 ** Math.min(this.#failures - 1, 20));
  }

  #headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = json ? { "content-type": "application/json" } : {};
    if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
    return headers;
  }

  async #register(): Promise<boolean> {
    const url = `${this.#base}${PATH.mecs}`;
    try {
      const res = await (this.#o.fetch ?? fetch)(url, {
        method: "POST", headers: this.#headers(true), body: JSON.stringify(this.body()), signal: AbortSignal.timeout(this.#o.timeoutMs ?? 5000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`answered ${res.status}: ${text.split("\n")[0]!.slice(0, 200)}`);
      const created = MecCreatedSchema.safeParse(JSON.parse(text));
      if (!created.success || !/^\d+$/.test(created.data.mec_id)) throw new Error(`answered an unexpected body: ${text.slice(0, 200)}`);
      const id = Number(created.data.mec_id);
      if (this.#mecId !== id || this.#failures > 0) {
        this.#o.log.info("registered at discovery", { url: this.#base, mecId: id, name: this.#o.name, tiles: this.#o.tiles });
      }
      this.#mecId = id;
      this.#failures = 0;
      this.#o.attempts?.inc({ result: "ok" });
      return true;
    } catch (error) {
      this.#failures++;
      this.#o.attempts?.inc({ result: "failed" });
      // One line per outage: the first failure says it, the retries are counted only.
      if (this.#failures === 1) {
        this.#o.log.warn("discovery registration failed, retrying", {
          url, error: (error as Error).message, retryMs: this.#retryMs(),
        });
      }
      return false;
    }
  }

  /** Stops re-registering and, when registered, deregisters (`DELETE /mec/{id}`); never throws. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancel?.();
    await this.#attempt;
    if (this.#mecId === undefined) return;
    // Only this replica's entries: other replicas of the MEC stay named (the MEC goes with the last).
    const own = this.#o.services.find((s) => s.service_name === SERVICE.registrationApi)?.url;
    const url = `${this.#base}${own ? PATH.mecReplica(this.#mecId, own) : PATH.mec(this.#mecId)}`;
    try {
      const res = await (this.#o.fetch ?? fetch)(url, { method: "DELETE", headers: this.#headers(false), signal: AbortSignal.timeout(this.#o.timeoutMs ?? 2000) });
      await res.body?.cancel();
      if (!res.ok && res.status !== 404) throw new Error(`answered ${res.status}`);
      this.#o.log.info("deregistered from discovery", { url: this.#base, mecId: this.#mecId });
    } catch (error) {
      this.#o.log.warn("discovery deregistration failed", { url, error: (error as Error).message });
    }
  }
}
