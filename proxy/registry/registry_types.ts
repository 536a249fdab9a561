/** Types of the registry's public interface: events, options, filters. */
import type { DataflowMetadata } from "../../shared/mod.ts";
import type { Store } from "../store/store.ts";
import type { Clock } from "./clock.ts";
import type { EndReason, MediaState } from "./flow.ts";

/** What subscribers (bus announcer, ingest, metrics) hear about. */
export interface RegistryEvents {
  registered: { id: number; metadata: DataflowMetadata };
  /** `send` of dataflow `id` is now `send` (also emitted once at registration). */
  send: { id: number; send: boolean };
  /** The dataflow is gone: tear down its media session and announce `terminatedataflow`. */
  ended: { id: number; reason: EndReason; metadata: DataflowMetadata; state: MediaState };
  /** The ingest reported a media state change. */
  state: { id: number; state: MediaState };
}

/** The proxy's `--udp-forward`. */
export type UdpForwardPolicy = "off" | "requested" | "all";

/** Answer of {@link Registry.checkIngestToken}. */
export type IngestCheck = "ok" | "unknown" | "denied";

/** Options of {@link Registry}; defaults in brackets. */
export interface RegistryOptions {
  store: Store;
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
  /**
   * A fresh control `seq` above every one signed so far: the replay floor in registration and
   * keep-alive answers [ControlSigner.shared.nextSeq(), the announcer's default signer].
   */
  controlSeq?: () => number;
}

/** Filters of {@link Registry.list}. */
export interface ListFilter {
  quadkey?: string;
  dataType?: string;
  active?: boolean;
  /** The newest `limit` matches only. */
  limit?: number;
}
