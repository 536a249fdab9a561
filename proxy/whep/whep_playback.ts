/**
 * Every WHEP viewer of the proxy: opens viewers for live dataflows, feeds each dataflow's
 * hub from the stream's access units (local ingest or, for a dataflow another replica ingests,
 * RabbitMQ: proxy/frames/dataflow_frames.ts), holds a demand lease while a dataflow is watched,
 * ends viewers that went silent or whose dataflow ended, and counts everything for metrics.
 * With `owners` its dataflow's owner ends them (proxy/stream/dataflow_owners.ts), else its "ended".
 *
 *   UnitSource (the dataflow's stream) ─► ViewerHub ─► WhepViewer queue ─► RTP ─► player
 *                                                   └► WhepViewer queue ─► RTP ─► player
 */
import { randomUUID } from "node:crypto";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";
import type { Logger } from "../log.ts";
import type { FrameOutput } from "../stream/frame_output.ts";
import type { DataflowOwners } from "../stream/dataflow_owners.ts";
import type { Registry } from "../registry/registry.ts";
import { type GopCacheOptions, ViewerHub } from "./viewer_hub.ts";
import { VIEWER_DROP_REASONS, type ViewerDropReason } from "./viewer_queue.ts";
import type { ViewerCounters, ViewerStreamOptions } from "./viewer_stream.ts";
import { ViewerCaps } from "./viewer_caps.ts";
import { ViewerDemand } from "./viewer_demand.ts";
import { chooseViewerH264 } from "./whep_offer.ts";
import { answerViewer, type WhepPeer } from "./whep_peer.ts";
import { VIEWER_END_REASONS, type ViewerEndReason, WhepViewer } from "./whep_viewer.ts";

/** Where viewers get a dataflow's access units: the per-dataflow streams (proxy/outputs). */
export interface UnitSource {
  /** Feeds `output` every access unit of `dataflowId`, in order, until the returned remover is called. */
  addOutput(dataflowId: number, output: FrameOutput): () => void;
  /** Asks the publisher of `dataflowId` for a keyframe (PLI); false when none is connected. */
  requestKeyframe(dataflowId: number): boolean;
  /**
   * Whether this process ingests `dataflowId` (default: always). Only local dataflows are
   * followed while nobody watches (`cacheWhileLive`).
   */
  isLocal?(dataflowId: number): boolean;
  /** Whether another replica ingests `dataflowId` live, so it plays from there (default: never). */
  remoteLive?(dataflowId: number): Promise<boolean>;
}

/** The dataflow cannot be watched now (HTTP 503, with Retry-After). */
export class NotLiveError extends Error {
  constructor(readonly dataflowId: number, readonly state: string) {
    super(`dataflow ${dataflowId} is not live (state "${state}"); a demand was placed, retry shortly`);
    this.name = "NotLiveError";
  }
}

/** Options of {@link WhepPlayback}; each field documents its default. */
export interface PlaybackOptions {
  /** Viewers at most, over all dataflows (each costs an encryption per packet). Default 64 (`--max-whep-viewers`). */
  maxViewers?: number;
  /** Viewers at most of one dataflow. Default 32 (`--max-whep-viewers-per-dataflow`). */
  maxViewersPerDataflow?: number;
  registry: Registry;
  source: UnitSource;
  ice: IngestIceOptions;
  log: Logger;
  /** A viewer not connected after this long ends with "ice-failed". Default 10000 ms. */
  connectTimeoutMs?: number;
  /** A connected viewer silent (no consent check, no RTCP) this long ends with "timeout". Default 10000 ms. */
  silenceTimeoutMs?: number;
  /** How often viewers are checked and leases renewed. Default 500 ms. */
  checkIntervalMs?: number;
  /** TTL of the demand leases viewers hold. Default 30 s. */
  demandTtlSeconds?: number;
  /**
   * Follow every live dataflow (not only watched ones) so its GOP is cached before the first
   * viewer comes: the first preview starts at once even when the publisher cannot answer a
   * PLI (a gst encoder). Costs the cache's memory per live dataflow. Default true.
   */
  cacheWhileLive?: boolean;
  stream?: ViewerStreamOptions;
  gop?: GopCacheOptions;
  /** Owners whose `viewers` piece a watched (or asked for) dataflow is. Default none: follow "ended". */
  owners?: Pick<DataflowOwners, "of" | "release">;
  now?: () => number;
}

interface Watched {
  hub: ViewerHub<WhepViewer>;
  viewers: Map<string, WhepViewer>;
  unsubscribe: () => void;
}

type Totals = ViewerCounters & { dropped: Record<ViewerDropReason, number>; keyframeRequests: number };

function zeroTotals(): Totals {
  const dropped = Object.fromEntries(VIEWER_DROP_REASONS.map((r) => [r, 0])) as Record<ViewerDropReason, number>;
  return { framesSent: 0, packetsSent: 0, bytesSent: 0, sendErrors: 0, keyframeRequests: 0, dropped };
}

function addViewer(into: Totals, viewer: WhepViewer): void {
  const c = viewer.stream.counters;
  into.framesSent += c.framesSent;
  into.packetsSent += c.packetsSent;
  into.bytesSent += c.bytesSent;
  into.sendErrors += c.sendErrors;
  into.keyframeRequests += viewer.keyframeRequests;
  for (const reason of VIEWER_DROP_REASONS) into.dropped[reason] += viewer.stream.queue.dropped[reason];
}

/** The WHEP viewers of one proxy. */
export class WhepPlayback {
  readonly demand: ViewerDemand;
  /** The viewer caps, with their refusals by reason. */
  readonly caps: ViewerCaps;
  /** Viewers ended, by reason. */
  readonly ended = Object.fromEntries(VIEWER_END_REASONS.map((r) => [r, 0])) as Record<ViewerEndReason, number>;
  /** Viewers that started with the cached GOP at once, and those that waited for a keyframe. */
  readonly joins = { cachedGop: 0, keyframeWait: 0 };
  private readonly watched = new Map<number, Watched>();
  private readonly retired = zeroTotals();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribes: (() => void)[];
  private readonly now: () => number;

  constructor(private readonly options: PlaybackOptions) {
    this.now = options.now ?? Date.now;
    this.caps = new ViewerCaps((id) => this.viewerCount(id), { total: options.maxViewers, perDataflow: options.maxViewersPerDataflow });
    this.demand = new ViewerDemand(options.registry, options.log, { ttlSeconds: options.demandTtlSeconds, now: this.now });
    this.timer = setInterval(() => this.check(), options.checkIntervalMs ?? 500);
    (this.timer as { unref?: () => void }).unref?.();
    this.unsubscribes = [
      options.owners ? () => {} : options.registry.on("ended", ({ id }) => this.endDataflow(id, "dataflow-ended")),
      options.registry.on("state", ({ id, state }) => {
        // Only a local stream is cached while live: a remote one costs a queue on the broker.
        if (state === "live" && (options.cacheWhileLive ?? true) && (options.source.isLocal?.(id) ?? true)) this.watch(id);
        else this.releaseIfUnused(id);
      }),
    ];
  }

  /**
   * Opens a viewer of `dataflowId` for the player's SDP `offer`; returns its id and the answer.
   * Throws NotFoundError (unknown or ended dataflow), {@link NotLiveError}, TooManyViewersError, OfferError, or
   * werift's error when it cannot answer.
   */
  async open(dataflowId: number, offer: string): Promise<{ viewerId: string; answer: string }> {
    await this.requireLive(dataflowId);
    // Taken before the await and held until the viewer counts itself: parallel POSTs cannot pass the caps.
    const release = this.caps.reserve(dataflowId);
    try {
      const choice = chooseViewerH264(offer);
      const peer = await answerViewer(choice, this.options.ice);
      try {
        await this.requireLive(dataflowId); // it may have ended while werift answered
      } catch (e) {
        void peer.pc.close();
        throw e;
      }
      return this.start(dataflowId, peer);
    } finally {
      release();
    }
  }

  private async requireLive(dataflowId: number): Promise<void> {
    const { state } = await this.options.registry.get(dataflowId);
    if (state === "expired") await this.options.registry.requireActive(dataflowId); // throws "has ended"
    const source = this.options.source;
    const local = source.isLocal?.(dataflowId) ?? true;
    if (state === "live" && local) return;
    if (!local && (await source.remoteLive?.(dataflowId))) return; // ingested on another replica
    this.own(dataflowId); // the wake lease is given up when the dataflow ends
    this.demand.wake(dataflowId);
    throw new NotLiveError(dataflowId, state);
  }

  private start(dataflowId: number, peer: WhepPeer): { viewerId: string; answer: string } {
    const viewerId = randomUUID();
    const watched = this.watch(dataflowId);
    const viewer = new WhepViewer(peer, {
      dataflowId, viewerId, log: this.options.log, stream: this.options.stream, now: this.now,
      onKeyframeWanted: () => this.options.source.requestKeyframe(dataflowId),
      onEnd: (v, reason) => this.onEnd(v, reason),
    });
    watched.viewers.set(viewerId, viewer);
    const fromCache = watched.hub.joinsFromCache;
    watched.hub.add(viewer);
    const start = watched.hub.joinsFromCache > fromCache ? "cachedGop" : "keyframeWait";
    this.joins[start]++;
    this.demand.setViewing(dataflowId, true);
    this.options.log.info("whep viewer started", { dataflowId, viewerId, viewers: watched.viewers.size, start });
    return { viewerId, answer: peer.answer };
  }

  private watch(dataflowId: number): Watched {
    let watched = this.watched.get(dataflowId);
    if (watched) return watched;
    const hub = new ViewerHub<WhepViewer>(() => this.options.source.requestKeyframe(dataflowId), this.options.gop);
    const unsubscribe = this.options.source.addOutput(dataflowId, {
      name: "whep",
      // Each viewer drops only its own frames; they are counted per reason in the WHEP metrics,
      // not as losses of the dataflow (one slow laptop must not make a stream look lossy).
      dropped: {},
      push: (unit) => hub.onUnit(unit),
      // A new publisher session starts a new GOP: the old one must not reach joiners.
      sessionStarted: () => hub.reset(),
    });
    watched = { hub, viewers: new Map(), unsubscribe };
    this.watched.set(dataflowId, watched);
    this.own(dataflowId);
    return watched;
  }

  /** Makes the viewers of `dataflowId` a piece of its owner (with `owners`). */
  private own(dataflowId: number): void {
    const owner = this.options.owners?.of(dataflowId);
    if (owner) owner.viewers ??= { end: () => this.endDataflow(dataflowId, "dataflow-ended") };
  }

  /** Gives the piece back once `dataflowId` is neither followed nor leased for (with `owners`). */
  private disown(dataflowId: number): void {
    if (!this.watched.has(dataflowId) && !this.demand.has(dataflowId)) this.options.owners?.release(dataflowId, "viewers");
  }

  private onEnd(viewer: WhepViewer, reason: ViewerEndReason): void {
    this.ended[reason]++;
    addViewer(this.retired, viewer);
    const watched = this.watched.get(viewer.dataflowId);
    if (!watched || watched.viewers.get(viewer.viewerId) !== viewer) return;
    watched.viewers.delete(viewer.viewerId);
    watched.hub.remove(viewer);
    if (watched.viewers.size > 0) return;
    this.releaseIfUnused(viewer.dataflowId);
    if (reason !== "dataflow-ended") this.demand.setViewing(viewer.dataflowId, false);
    this.disown(viewer.dataflowId);
  }

  /** Stops following `dataflowId` when it has no viewer and (with `cacheWhileLive`) is not live. */
  private releaseIfUnused(dataflowId: number): void {
    const watched = this.watched.get(dataflowId);
    if (!watched || watched.viewers.size > 0) return;
    if ((this.options.cacheWhileLive ?? true) && this.isLive(dataflowId)) return;
    watched.unsubscribe();
    this.watched.delete(dataflowId);
    this.disown(dataflowId);
  }

  /** Live here: a remote dataflow's followed queue goes with its last viewer. */
  private isLive(dataflowId: number): boolean {
    if (!(this.options.source.isLocal?.(dataflowId) ?? true)) return false;
    return this.options.registry.peek(dataflowId)?.state === "live"; // unknown or ended: not live
  }

  /** Ends viewer `viewerId` of `dataflowId`; false when there is none. */
  end(dataflowId: number, viewerId: string, reason: ViewerEndReason = "delete"): boolean {
    const viewer = this.watched.get(dataflowId)?.viewers.get(viewerId);
    if (!viewer) return false;
    viewer.close(reason);
    return true;
  }

  /** Ends every viewer of `dataflowId` and gives up its lease. */
  endDataflow(dataflowId: number, reason: ViewerEndReason): void {
    const watched = this.watched.get(dataflowId);
    for (const viewer of [...(watched?.viewers.values() ?? [])]) viewer.close(reason);
    const left = this.watched.get(dataflowId);
    if (left && left.viewers.size === 0) {
      left.unsubscribe();
      this.watched.delete(dataflowId);
    }
    this.demand.drop(dataflowId);
    this.disown(dataflowId);
  }

  /** Viewers of `dataflowId` (all dataflows when undefined). */
  viewerCount(dataflowId?: number): number {
    if (dataflowId !== undefined) return this.watched.get(dataflowId)?.viewers.size ?? 0;
    let n = 0;
    for (const w of this.watched.values()) n += w.viewers.size;
    return n;
  }

  /** The viewers of `dataflowId`, for tests and stats. */
  viewersOf(dataflowId: number): WhepViewer[] {
    return [...(this.watched.get(dataflowId)?.viewers.values() ?? [])];
  }

  /** Counters of every viewer since start (ended and current), summed. */
  totals(): Totals {
    const out = structuredClone(this.retired);
    for (const w of this.watched.values()) for (const v of w.viewers.values()) addViewer(out, v);
    return out;
  }

  /** Ends viewers that never connected or went silent; renews demand leases. */
  check(now = this.now()): void {
    const limits = {
      connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
      silenceTimeoutMs: this.options.silenceTimeoutMs ?? 10_000,
    };
    for (const w of [...this.watched.values()]) for (const v of [...w.viewers.values()]) v.check(now, limits);
    this.demand.tick();
  }

  /** Resolves when the viewers' lease calls made so far have been answered (they run in the background). */
  demandSettled(): Promise<void> {
    return this.demand.settled();
  }

  /** Ends every viewer, deletes the leases (resolves when the registry answered), stops the timer. */
  close(): Promise<void> {
    clearInterval(this.timer);
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    for (const id of [...this.watched.keys()]) this.endDataflow(id, "shutdown");
    return this.demand.close();
  }
}
