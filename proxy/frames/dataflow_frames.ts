/**
 * One code path for "the frames of a dataflow", wherever they come from: the WHEP hub (and
 * through it the dashboard's preview) asks this for a dataflow's access units, and gets the
 * local stream's when this replica ingests it (no bus round-trip), else the frames its owner
 * published on RabbitMQ:
 *
 *   WHEP hub ─► DataflowFrames ─┬─ local session attached ─► MediaStreams (the WHIP ingest here)
 *                               └─ otherwise ─────────────► BusFrameSource (a queue on `video`)
 *
 * The choice is made when the hub starts following the dataflow, which lasts while it has
 * viewers: a stream whose ingest moves here while watched from the bus goes on from the bus
 * (this replica publishes it there too); one that moves away while followed locally is not
 * followed to its new owner until its viewers reconnect.
 */
import type { FrameOutput } from "../stream/frame_output.ts";
import type { MediaStreams } from "../outputs/media_streams.ts";
import type { UnitSource } from "../whep/whep_playback.ts";
import type { BusFrameSource } from "./bus_frame_source.ts";

/** The media state of a dataflow in the shared store (another replica's ingest flushes it there). */
export type StoredState = (id: number) => Promise<string | undefined>;

/** Frames of a dataflow from the local ingest or from RabbitMQ; see the file comment. */
export class DataflowFrames implements UnitSource {
  constructor(
    private readonly local: Pick<MediaStreams, "find" | "addOutput" | "requestKeyframe">,
    private readonly remote: Pick<BusFrameSource, "addOutput">,
    private readonly storedState: StoredState,
  ) {}

  /** True while a WHIP session of `dataflowId` is attached here. */
  isLocal(dataflowId: number): boolean {
    return this.local.find(dataflowId)?.current !== undefined;
  }

  /** True when the shared store says another replica's ingest of `dataflowId` is live. */
  async remoteLive(dataflowId: number): Promise<boolean> {
    return !this.isLocal(dataflowId) && (await this.storedState(dataflowId)) === "live";
  }

  addOutput(dataflowId: number, output: FrameOutput): () => void {
    return this.isLocal(dataflowId) ? this.local.addOutput(dataflowId, output) : this.remote.addOutput(dataflowId, output);
  }

  /** PLI to the local publisher; false for a remote dataflow (its publisher is on another replica). */
  requestKeyframe(dataflowId: number): boolean {
    return this.isLocal(dataflowId) && this.local.requestKeyframe(dataflowId);
  }
}
