/**
 * One owner per dataflow on the proxy (issue #13 item 7). A {@link DataflowOwner} holds what
 * this process keeps of one dataflow's media: its stream with the stream's outputs (bus lane,
 * UDP forward, the WHEP hub's output) and its WHEP viewers (a handle on the playback's hub,
 * viewers and demand lease of the dataflow, proxy/whep/whep_playback.ts). It is
 * made when the first of them is needed, dropped when the last one goes, and when the dataflow
 * ends {@link DataflowOwners.end} (the media path's one listener on the registry's "ended",
 * proxy/media_routes.ts) tears it down in this fixed order:
 *
 *   1. session  the WHIP session ends ("dataflow-expired"): no more media comes in; the stream
 *               detaches its assembler ("stream ended") and its outputs see the session end
 *   2. viewers  the WHEP viewers end ("dataflow-ended"), the hub leaves the stream, the
 *               viewers' demand lease is given up
 *   3. outputs  the stream is disposed: the bus lane and the UDP forward close (their
 *               counters stay in the proxy's totals)
 *   4. forget   the owner leaves the table; a second end finds nothing to do
 *
 * Step 1 goes through the ingest (`WhipIngest.endDataflow`): proxy/ingest/ sits below this
 * folder, keeps its own index of live sessions (the WHIP routes look sessions up there), and
 * releases the session's row in the shared store even when no session of the dataflow is live
 * here; so it runs for every ended dataflow, owner or not (it is idempotent).
 *
 * Not owners, and so listeners of their own on "ended": the bus announcer (`terminatedataflow`)
 * and the registry metrics (`vsb_dataflows_ended_total`) only report the end and hold nothing of
 * the dataflow's media. The events follower (proxy/outputs/dataflow_events.ts) remembers what the
 * bus said, of ended dataflows too, bounded: that memory is what it is for.
 */
import type { Logger } from "../log.ts";
import type { DataflowStream } from "./dataflow_stream.ts";

/** A piece of a dataflow its owner ends. */
export interface OwnedPart {
  /** The dataflow ended: release everything (called once, in the owner's order). */
  end(): void;
}

/** The dataflow's stream and its outputs, as one piece (proxy/outputs/media_streams.ts makes it). */
export interface OwnedOutputs extends OwnedPart {
  readonly stream: DataflowStream;
}

/** The steps of a dataflow's teardown, in the order they run. */
export const TEARDOWN_ORDER = ["session", "viewers", "outputs", "forget"] as const;

/** One step of {@link TEARDOWN_ORDER}. */
export type TeardownStep = (typeof TEARDOWN_ORDER)[number];

/** The pieces a dataflow can hold here (each a slot of its owner). */
export type PieceName = "viewers" | "outputs";

/** What the proxy holds of one dataflow's media; see the file comment. */
export class DataflowOwner<O extends OwnedOutputs = OwnedOutputs> {
  /** `ending` from the first teardown step on: pieces do not drop themselves while it runs. */
  state: "open" | "ending" = "open";
  /** The stream and its outputs, once a session or an output needed them. */
  outputs: O | undefined;
  /** The WHEP viewers of the dataflow (hub and demand lease), once one watched or asked. */
  viewers: OwnedPart | undefined;

  constructor(readonly dataflowId: number) {}

  /** The dataflow's stream, if one was made. */
  get stream(): DataflowStream | undefined {
    return this.outputs?.stream;
  }
}

/** Options of {@link DataflowOwners}; each field documents its default. */
export interface DataflowOwnersOptions {
  log: Logger;
  /** Step 1: ends the WHIP session of a dataflow (and its row). Default none (set by the media path). */
  endSession?: (dataflowId: number) => void;
}

/** The owners of every dataflow this process holds media of; see the file comment. */
export class DataflowOwners<O extends OwnedOutputs = OwnedOutputs> {
  readonly #owners = new Map<number, DataflowOwner<O>>();
  /** Step 1 of every end; see {@link DataflowOwnersOptions.endSession}. */
  endSession: ((dataflowId: number) => void) | undefined;

  constructor(private readonly options: DataflowOwnersOptions) {
    this.endSession = options.endSession;
  }

  /** Owners held now (0 once every dataflow that had media here has ended: no leak). */
  get size(): number {
    return this.#owners.size;
  }

  /** The owner of `dataflowId`, made when none is held. */
  of(dataflowId: number): DataflowOwner<O> {
    let owner = this.#owners.get(dataflowId);
    if (!owner) this.#owners.set(dataflowId, owner = new DataflowOwner<O>(dataflowId));
    return owner;
  }

  /** The owner of `dataflowId`, if one is held. */
  get(dataflowId: number): DataflowOwner<O> | undefined {
    return this.#owners.get(dataflowId);
  }

  /** Every owner held now. */
  values(): IterableIterator<DataflowOwner<O>> {
    return this.#owners.values();
  }

  /**
   * Piece `name` of `dataflowId` went on its own (not by the dataflow's end); the owner goes
   * with its last piece. Nothing happens while the owner is ending (its teardown clears it).
   */
  release(dataflowId: number, name: PieceName): void {
    const owner = this.#owners.get(dataflowId);
    if (!owner || owner.state === "ending") return;
    owner[name] = undefined;
    if (!owner.outputs && !owner.viewers) this.#owners.delete(dataflowId);
  }

  /** Dataflow `dataflowId` ended: tears down what this process holds of it, in {@link TEARDOWN_ORDER}. */
  end(dataflowId: number): void {
    const owner = this.#owners.get(dataflowId);
    if (owner?.state === "ending") return; // a piece ended re-entrantly: the running teardown goes on
    if (owner) owner.state = "ending";
    this.#step("session", dataflowId, () => this.endSession?.(dataflowId));
    if (owner) {
      this.#step("viewers", dataflowId, () => owner.viewers?.end());
      this.#step("outputs", dataflowId, () => owner.outputs?.end());
      owner.viewers = undefined;
      owner.outputs = undefined;
    }
    this.#owners.delete(dataflowId); // forget
  }

  /** Runs one step; a failing step is logged and the next ones still run. */
  #step(step: TeardownStep, dataflowId: number, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.options.log.error("dataflow teardown step failed", { dataflowId, step, error });
    }
  }
}
