/**
 * Watching counts as demand (DESIGN.md "Demand decides send"): while a dataflow has a
 * viewer, the proxy holds a demand lease for it through the registry's own lease API, so
 * an on-demand sensor keeps (or starts) sending. A player that asks for a dataflow that is
 * not live yet "wakes" it: a lease for `ttlSeconds`, so the sensor starts while the player
 * retries. Leases are renewed by {@link ViewerDemand.tick} and deleted when no longer wanted.
 * The registry's lease calls are awaited in the background: a viewer never waits for the store,
 * and a lease given up while it was still being taken is deleted once it exists.
 */
import type { Logger } from "../log.ts";
import type { Registry } from "../registry/registry.ts";

interface Held {
  /** Set once the lease exists. */
  leaseId?: string;
  /** Resolves when the lease was taken (or could not be). */
  taken: Promise<void>;
  viewing: boolean;
  wakeUntil: number;
  renewedAt: number;
}

/** Options of {@link ViewerDemand}; each field documents its default. */
export interface ViewerDemandOptions {
  /** TTL of each lease; renewed at a third of it. Default 30 s. */
  ttlSeconds?: number;
  now?: () => number;
}

/** The demand leases held for viewers, one per dataflow. */
export class ViewerDemand {
  private readonly held = new Map<number, Held>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(private readonly registry: Registry, private readonly log: Logger, options: ViewerDemandOptions = {}) {
    this.ttlSeconds = options.ttlSeconds ?? 30;
    this.now = options.now ?? Date.now;
  }

  /** Dataflows with a lease now. */
  get size(): number {
    return this.held.size;
  }

  /** Whether a lease is held (or being taken) for `dataflowId`. */
  has(dataflowId: number): boolean {
    return this.held.has(dataflowId);
  }

  /** The lease id held for `dataflowId`, if any. */
  leaseOf(dataflowId: number): string | undefined {
    return this.held.get(dataflowId)?.leaseId;
  }

  /** Whether `dataflowId` has viewers; a lease is taken at once, or given up at the next tick. */
  setViewing(dataflowId: number, viewing: boolean): void {
    const entry = this.ensure(dataflowId, viewing);
    if (entry) entry.viewing = viewing;
    if (!viewing) this.tick();
  }

  /** A player asked for `dataflowId` before it was live: want it for one TTL. */
  wake(dataflowId: number): void {
    const entry = this.ensure(dataflowId, true);
    if (entry) entry.wakeUntil = this.now() + this.ttlSeconds * 1000;
  }

  /** Renews wanted leases that are a third through their TTL; deletes the others. */
  tick(): void {
    const now = this.now();
    for (const [dataflowId, entry] of this.held) {
      if (!entry.viewing && now >= entry.wakeUntil) {
        this.held.delete(dataflowId);
        this.release(dataflowId, entry);
      } else if (entry.leaseId !== undefined && now - entry.renewedAt >= (this.ttlSeconds * 1000) / 3) {
        entry.renewedAt = now;
        const leaseId = entry.leaseId;
        this.track(this.call("demand renew failed", dataflowId, () => this.registry.renewDemand(leaseId, this.ttlSeconds)).then((renewed) => {
          if (!renewed && this.held.get(dataflowId) === entry) this.held.delete(dataflowId); // the next ensure() takes a new one
        }));
      }
    }
  }

  /** Forgets `dataflowId` (it ended); its lease is deleted. */
  drop(dataflowId: number): void {
    const entry = this.held.get(dataflowId);
    if (!entry) return;
    this.held.delete(dataflowId);
    this.release(dataflowId, entry);
  }

  /** Deletes every lease (the proxy stops); resolves when the registry has answered. */
  async close(): Promise<void> {
    for (const dataflowId of [...this.held.keys()]) this.drop(dataflowId);
    await this.settled();
  }

  /** Resolves when every lease call made so far has been answered (for close and tests). */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private release(dataflowId: number, entry: Held): void {
    this.track(entry.taken.then(async () => {
      const leaseId = entry.leaseId;
      if (leaseId !== undefined) await this.call("demand release failed", dataflowId, () => this.registry.deleteDemand(leaseId));
    }));
  }

  private ensure(dataflowId: number, create: boolean): Held | undefined {
    const existing = this.held.get(dataflowId);
    if (existing || !create) return existing;
    const entry: Held = { viewing: false, wakeUntil: 0, renewedAt: this.now(), taken: Promise.resolve() };
    entry.taken = this.track(this.call("demand create failed", dataflowId, () => this.registry.createDemand({ dataflowId, ttlSeconds: this.ttlSeconds }))
      .then((lease) => {
        if (lease) entry.leaseId = lease.id;
        else if (this.held.get(dataflowId) === entry) this.held.delete(dataflowId); // the next want tries again
      }));
    this.held.set(dataflowId, entry);
    return entry;
  }

  private track(work: Promise<void>): Promise<void> {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
    return work;
  }

  private async call<T>(message: string, dataflowId: number, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      this.log.warn(message, { dataflowId, error });
      return undefined;
    }
  }
}
