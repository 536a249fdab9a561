/** Types of the registry's public interface: events, options, filters. */
import { DATAFLOW_PAGE_MAX, type DataflowMetadata } from "../../shared/mod.ts";
import type { DataflowStore } from "../store/store_api.ts";
import type { StoreWrites } from "./store_writes.ts";
import type { Clock } from "./clock.ts";
import type { EndReason, MediaState } from "./flow.ts";

/** What subscribers (bus announcer, ingest, metrics) hear about. */
export interface RegistryEvents {
  registered: { id: number; metadata: DataflowMetadata };
  /** `send` of dataflow `id` is now `send` (also emitted once at registration); `remote`: another
   * replica's write changed it, and that replica announces it. */
  send: { id: number; send: boolean; remote?: true };
  /** The dataflow is gone: tear down its media session and announce `terminatedataflow` (unless
   * `remote`: another replica ended it and announces it). */
  ended: { id: number; reason: EndReason; metadata: DataflowMetadata; state: MediaState; remote?: true };
  /** The ingest reported a media state change. */
  state: { id: number; state: MediaState };
  /**
   * A lease naming dataflow `id` was taken, here or (`remote`) on another replica, e.g. by a
   * WHEP viewer there: the replica that ingests it asks its publisher for a keyframe, so the
   * new consumer does not wait a GOP even when `send` was on already.
   */
  demanded: { id: number; remote?: true };
}

/** The proxy's `--udp-forward`. */
export type UdpForwardPolicy = "off" | "requested" | "all";

/** Answer of {@link Registry.checkIngestToken}. */
export type IngestCheck = "ok" | "unknown" | "denied";

/** Options of {@link Registry}; defaults in brackets. */
export interface RegistryOptions {
  /** The store written through (SQLite via `sqliteDataflowStore`, or PostgreSQL). */
  store: DataflowStore;
  clock: Clock;
  /** `always`: every active dataflow sends; `demand`: only while a lease matches. */
  sendPolicy: "demand" | "always";
  keepaliveSeconds: number;
  /** Base URL advertised in `whipUrl`. */
  publicUrl: string;
  /** Host shown with each dataflow's UDP forward port. */
  udpForwardHost: string;
  /** Which dataflows get a UDP forward port: none, those whose registration asks (`udpForward:
   * true`), or all but those that say `udpForward: false` [requested]. */
  udpForward?: UdpForwardPolicy;
  /** Missed keep-alive periods before a dataflow expires [3]. */
  expiryFactor?: number;
  /** Period of the expiry/lease sweep [1000]. */
  sweepMs?: number;
  /** Period of the last-seen flush [1000]. */
  flushMs?: number;
  /** How long ended dataflows are kept before they are deleted (`--ended-retention`) [7 days]. */
  endedRetentionMs?: number;
  /** Period of the retention prune, run on the sweep timer [60000]. */
  pruneMs?: number;
  /** The guard of store writes (tests pass one to watch it) [a new one]. */
  writes?: StoreWrites;
  /**
   * A fresh control `seq` above every one signed so far: the replay floor in registration and
   * keep-alive answers [ControlSigner.shared.nextSeq(), the announcer's default signer].
   */
  controlSeq?: () => number;
}

/** The most dataflows one list answers (and the page size when no `limit` is given). */
export const LIST_MAX = DATAFLOW_PAGE_MAX;

/** Filters of {@link Registry.list}. */
export interface ListFilter {
  quadkey?: string;
  dataType?: string;
  active?: boolean;
  /** The newest `limit` matches only (at most {@link LIST_MAX}, the default). */
  limit?: number;
  /** Only ids below this one: the next page starts below the lowest id of the last. */
  before?: number;
}
