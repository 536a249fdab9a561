/**
 * Holds a demand lease on the proxy while a consumer runs: takes it, renews it every third
 * of its TTL, takes a new one when the proxy forgot it, and gives it back at the end.
 */
import { DemandLeaseSchema, PATH, ROUTE, type DemandLease } from "../../shared/mod.ts";

/** What to ask for: one selector and a TTL. */
export interface LeaseRequest {
  dataflowId?: number;
  quadkey?: string;
  ttlSeconds: number;
}

/** Options of {@link DemandLeaseHolder}. */
export interface LeaseOptions {
  /** Bearer token for the proxy's API. Default: none. */
  token?: string;
  /** `fetch` to use (e.g. one trusting --api-ca-file). Default: the global one. */
  fetch?: typeof fetch;
  /** Called on every failure to renew (the holder keeps trying). Default: ignore. */
  onError?: (err: Error) => void;
}

/** A lease the consumer keeps alive until {@link DemandLeaseHolder.release}. */
export class DemandLeaseHolder {
  #lease: DemandLease | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly apiUrl: string, private readonly request: LeaseRequest, private readonly options: LeaseOptions = {}) {}

  /** The lease currently held, if any. */
  get lease(): DemandLease | null {
    return this.#lease;
  }

  async #call(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    const url = new URL(path, this.apiUrl);
    try {
      return await (this.options.fetch ?? fetch)(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new Error(`${method} "${url}" failed: ${(err as Error).message}`);
    }
  }

  async #take(): Promise<void> {
    const res = await this.#call("POST", ROUTE.demands, this.request);
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`POST ${ROUTE.demands} at "${this.apiUrl}" answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    }
    this.#lease = DemandLeaseSchema.parse(await res.json());
  }

  async #renew(): Promise<void> {
    if (!this.#lease) return await this.#take();
    const res = await this.#call("PUT", PATH.demand(this.#lease.id), { ttlSeconds: this.request.ttlSeconds });
    if (res.status === 404) return await this.#take();
    if (!res.ok) throw new Error(`PUT ${PATH.demand(this.#lease.id)} answered ${res.status}`);
    this.#lease = DemandLeaseSchema.parse(await res.json());
  }

  /** Takes the lease (throws when the proxy refuses) and starts renewing it. */
  async start(): Promise<DemandLease> {
    await this.#take();
    const every = Math.max(1000, (this.request.ttlSeconds * 1000) / 3);
    this.#timer = setInterval(() => {
      this.#renew().catch((err: Error) => this.options.onError?.(err));
    }, every);
    return this.#lease!;
  }

  /** Stops renewing and deletes the lease, so demand ends at once rather than at expiry. */
  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const lease = this.#lease;
    this.#lease = null;
    if (lease) await this.#call("DELETE", PATH.demand(lease.id)).catch((err: Error) => this.options.onError?.(err));
  }
}
