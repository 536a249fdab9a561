/**
 * The live demand leases, in memory and written through to the store. A lease matches a
 * dataflow when every selector it names matches (AND): `dataflowId` equal, `quadkey` a
 * prefix of the dataflow's keys (see {@link quadkeyMatches}), `dataType` equal.
 */
import { randomUUID } from "node:crypto";
import type { DemandLease, DemandRequest } from "../../shared/mod.ts";
import type { DemandRow } from "../store/store.ts";
import type { DataflowStore } from "../store/store_api.ts";
import { NotFoundError } from "./errors.ts";
import type { StoreWrites } from "./store_writes.ts";

/** What a lease is matched against. */
export interface Matchable {
  id: number;
  /** The `locationQuadkey` the sensor sent (usually zoom 18). */
  quadkey: string;
  /** Zoom-25 quadkey of the sensor's coordinates, when it has them. */
  positionQuadkey?: string;
  dataType: string;
}

/**
 * True when the tile `prefix` names holds the dataflow: its zoom-25 position key starts with
 * `prefix`, or the key the sensor sent does. Both are asked because pygeotile rounds to
 * pixels per zoom, so within a pixel of a tile edge the zoom-25 key's first 18 digits can
 * name the neighbour of the zoom-18 key the sensor registered with; a lease on that key
 * must keep matching. A sent key shorter than `prefix` never matches it: a zoom-18 tile
 * without coordinates cannot say whether it lies within a zoom-22 tile, and answering yes
 * would start video nobody asked for. Used by demand leases and `GET /dataflows?quadkey=`.
 */
export function quadkeyMatches(prefix: string, flow: Pick<Matchable, "quadkey" | "positionQuadkey">): boolean {
  return flow.quadkey.startsWith(prefix) || (flow.positionQuadkey?.startsWith(prefix) ?? false);
}

interface Lease {
  id: string;
  dataflowId?: number;
  quadkey?: string;
  dataType?: string;
  ttlSeconds: number;
  createdAt: number;
  expiresAt: number;
  owner: string | null;
  /** Past its TTL, and its row could not be deleted yet: it matches nothing. */
  lapsed?: boolean;
}

/** True when `lease` names `flow` by every selector it has. */
export function leaseMatches(lease: Omit<Lease, "id" | "ttlSeconds" | "createdAt" | "expiresAt" | "owner">, flow: Matchable): boolean {
  if (lease.dataflowId !== undefined && lease.dataflowId !== flow.id) return false;
  if (lease.quadkey !== undefined && !quadkeyMatches(lease.quadkey, flow)) return false;
  if (lease.dataType !== undefined && lease.dataType !== flow.dataType) return false;
  return true;
}

function fromRow(row: DemandRow & { owner?: string | null }): Lease {
  return {
    id: row.id,
    dataflowId: row.dataflow_id ?? undefined,
    quadkey: row.quadkey ?? undefined,
    dataType: row.data_type ?? undefined,
    ttlSeconds: row.ttl_seconds,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    owner: row.owner ?? null,
  };
}

function toLease(lease: Lease): DemandLease {
  const out: DemandLease = { id: lease.id, ttlSeconds: lease.ttlSeconds, expiresAt: new Date(lease.expiresAt).toISOString() };
  if (lease.dataflowId !== undefined) out.dataflowId = lease.dataflowId;
  if (lease.quadkey !== undefined) out.quadkey = lease.quadkey;
  if (lease.dataType !== undefined) out.dataType = lease.dataType;
  return out;
}

/**
 * Demand leases with expiry; the caller recomputes `send` when a method says it changed them.
 * Each change is written to the store first and made in memory only once the write resolved
 * (a failed write rejects with StoreUnavailableError from `writes` and changes nothing).
 */
export class DemandBook {
  readonly #leases = new Map<string, Lease>();
  /** Leases being created (their write is in flight), by owner ('' for none): counted as live. */
  readonly #creating = new Map<string, number>();
  /** Expired leases whose row is being deleted. */
  readonly #expiring = new Set<string>();
  #nextExpiry = Infinity;

  private constructor(
    private readonly store: DataflowStore, private readonly writes: StoreWrites, rows: DemandRow[],
    private readonly onExpired: (remote: boolean) => void,
  ) {
    for (const row of rows) this.#leases.set(row.id, fromRow(row));
    this.#recomputeNextExpiry();
  }

  /** The leases stored in `store`; throws when it cannot be read. `onExpired`: see {@link expire}. */
  static async load(store: DataflowStore, writes: StoreWrites, onExpired: (remote: boolean) => void): Promise<DemandBook> {
    return new DemandBook(store, writes, await store.allDemands(), onExpired);
  }

  #recomputeNextExpiry(): void {
    let next = Infinity;
    for (const lease of this.#leases.values()) if (!this.#expiring.has(lease.id)) next = Math.min(next, lease.expiresAt);
    this.#nextExpiry = next;
  }

  /** Takes a new lease; it counts in {@link count} from this call on, so limits hold across awaits. */
  async create(request: DemandRequest, now: number, owner?: string): Promise<DemandLease> {
    const lease: Lease = {
      id: randomUUID(),
      dataflowId: request.dataflowId,
      quadkey: request.quadkey,
      dataType: request.dataType,
      ttlSeconds: request.ttlSeconds,
      createdAt: now,
      expiresAt: now + request.ttlSeconds * 1000,
      owner: owner ?? null,
    };
    const key = owner ?? "";
    this.#creating.set(key, (this.#creating.get(key) ?? 0) + 1);
    try {
      await this.writes.run("demand_insert", () => this.store.insertDemand({
        id: lease.id, dataflow_id: lease.dataflowId ?? null, quadkey: lease.quadkey ?? null,
        data_type: lease.dataType ?? null, ttl_seconds: lease.ttlSeconds, created_at: now, expires_at: lease.expiresAt,
        owner: lease.owner,
      }));
    } finally {
      const n = this.#creating.get(key)! - 1;
      if (n === 0) this.#creating.delete(key);
      else this.#creating.set(key, n);
    }
    this.#leases.set(lease.id, lease);
    this.#nextExpiry = Math.min(this.#nextExpiry, lease.expiresAt);
    return toLease(lease);
  }

  #get(id: string, now: number): Lease {
    const lease = this.#leases.get(id);
    if (!lease || lease.expiresAt <= now) throw new NotFoundError(`demand "${id}" does not exist or has expired`);
    return lease;
  }

  /** Extends lease `id` by `ttlSeconds` from now. */
  async renew(id: string, ttlSeconds: number, now: number): Promise<DemandLease> {
    const lease = this.#get(id, now);
    const expiresAt = now + ttlSeconds * 1000;
    await this.writes.run("demand_renew", () => this.store.renewDemand(id, ttlSeconds, expiresAt));
    lease.ttlSeconds = ttlSeconds;
    lease.expiresAt = expiresAt;
    this.#recomputeNextExpiry();
    return toLease(lease);
  }

  /** Ends lease `id`. */
  async delete(id: string, now: number): Promise<void> {
    this.#get(id, now);
    await this.writes.run("demand_delete", () => this.store.deleteDemand(id));
    this.#leases.delete(id);
    this.#recomputeNextExpiry();
  }

  /** Reads lease `id` again after another replica changed it; true when that changed this book. */
  async reload(id: string): Promise<boolean> {
    const row = await this.store.getDemand(id);
    if (!row) {
      const had = this.#leases.delete(id);
      this.#recomputeNextExpiry();
      return had;
    }
    this.#leases.set(id, fromRow(row));
    this.#recomputeNextExpiry();
    return true;
  }

  /** Whether this book holds lease `id` (live or not yet claimed). */
  has(id: string): boolean {
    return this.#leases.has(id);
  }

  /** The lease `id` if it is live. */
  get(id: string, now: number): DemandLease {
    return toLease(this.#get(id, now));
  }

  /**
   * Ends leases that ran out, by claiming their rows: `onExpired(false)` when this book deleted
   * one (its `send` changes are announced here), `onExpired(true)` when another replica had
   * (that one announced them). A lease keeps matching until its claim resolved, so replicas flip
   * `send` on the claim, not on their clocks. A row that cannot be deleted now lapses (it matches
   * nothing, announced here) and is tried again next time. Resolves when the claims did;
   * undefined (no await) when none is due.
   */
  expire(now: number): Promise<void> | undefined {
    if (this.#nextExpiry > now) return undefined;
    const claims: Promise<void>[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.expiresAt > now || this.#expiring.has(lease.id)) continue;
      this.#expiring.add(lease.id);
      claims.push(this.#claim(lease));
    }
    this.#recomputeNextExpiry(); // those being deleted wait for their write
    return claims.length === 0 ? undefined : Promise.all(claims).then(() => undefined);
  }

  async #claim(lease: Lease): Promise<void> {
    let claimed: boolean | undefined;
    try {
      claimed = await this.writes.run("demand_expire", () => this.store.deleteDemand(lease.id));
    } catch {
      claimed = undefined; // counted and logged by writes
    }
    this.#expiring.delete(lease.id);
    if (claimed === undefined) lease.lapsed = true;
    else if (this.#leases.get(lease.id) === lease) this.#leases.delete(lease.id);
    this.#recomputeNextExpiry();
    this.onExpired(claimed === false);
  }

  /** True when a lease not yet ended by {@link expire} matches `flow`. */
  wants(flow: Matchable): boolean {
    for (const lease of this.#leases.values()) {
      if (!lease.lapsed && leaseMatches(lease, flow)) return true;
    }
    return false;
  }

  /** Who took lease `id` if it is live. */
  ownerOf(id: string, now: number): string | null {
    return this.#get(id, now).owner;
  }

  /** How many leases are live or being created (only `owner`'s when given). */
  count(now: number, owner?: string): number {
    let n = owner === undefined ? [...this.#creating.values()].reduce((a, b) => a + b, 0) : this.#creating.get(owner) ?? 0;
    for (const l of this.#leases.values()) if (l.expiresAt > now && (owner === undefined || l.owner === owner)) n++;
    return n;
  }

  /** Live leases, oldest first (only `owner`'s when given). */
  list(now: number, owner?: string): DemandLease[] {
    return [...this.#leases.values()].filter((l) => l.expiresAt > now && (owner === undefined || l.owner === owner)).map(toLease);
  }
}
