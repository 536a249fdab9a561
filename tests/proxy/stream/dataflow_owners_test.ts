// DataflowOwners: a dataflow with a live session, an output and a WHEP viewer is torn down by its
// owner in TEARDOWN_ORDER (session → viewers → outputs → forget), a second end does nothing, and
// no table keeps an entry of it (owners, streams, viewers, demand leases). Real MediaStreams
// (its broker away), real WhepPlayback with a werift viewer, the registry of the API harness;
// the "session" is a sink of the stream closed as the WHIP ingest closes it.
import { afterAll, describe, expect, test } from "bun:test";
import { BusConnection } from "../../../proxy/bus/bus_connection.ts";
import { Publisher } from "../../../proxy/bus/publisher.ts";
import type { SessionSink } from "../../../proxy/ingest/ingest_types.ts";
import { logger } from "../../../proxy/log.ts";
import { MediaStreams, type StreamOutputs } from "../../../proxy/outputs/media_streams.ts";
import { DataflowOwners, TEARDOWN_ORDER } from "../../../proxy/stream/dataflow_owners.ts";
import type { FrameOutput } from "../../../proxy/stream/frame_output.ts";
import { createWhep } from "../../../proxy/whep/whep_module.ts";
import { LOOPBACK_ICE } from "../../e2e/whip_harness.ts";
import { recvonlyOffer } from "../../e2e/whep_player.ts";
import { harness } from "../harness.ts";
import { agentBody } from "../sensor_body.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function setUp() {
  const h = await harness();
  const calls: string[] = [];
  const owners = new DataflowOwners<StreamOutputs>({ log: logger("media") });
  const streams = new MediaStreams({
    owners, registry: h.registry, publisher: new Publisher(new BusConnection({ urls: ["amqp://127.0.0.1:1"] })), queueSeconds: 1, log: logger("media"),
  });
  cleanups.push(() => streams.close());
  const whep = createWhep({ config: { iceAddresses: ["127.0.0.1"], iceServers: [] }, registry: h.registry, metrics: h.metrics }, streams, { ice: LOOPBACK_ICE, owners });
  cleanups.push(() => whep.playback.close());
  // The WHIP ingest's side of step 1: the live session's sink is closed once, as SessionRegistry.end does.
  const sinks = new Map<number, SessionSink>();
  owners.endSession = (id) => {
    const sink = sinks.get(id);
    if (!sink) return;
    sinks.delete(id);
    calls.push("session");
    sink.close("dataflow-expired");
  };
  h.registry.on("ended", ({ id }) => owners.end(id)); // as proxy/media_routes.ts
  const id = (await (await h.json("POST", "/dataflows", agentBody())).json()).id as number;
  sinks.set(id, streams.sinks({ dataflowId: id, sessionId: "s-1", payloadType: 96 }));
  h.registry.setMediaState(id, "live");
  const output: FrameOutput = {
    name: "recorder", dropped: {}, push: () => undefined,
    sessionEnded: (_ctx, reason) => void calls.push(`output sessionEnded ${reason}`),
    close: () => void calls.push(`output closed (${whep.playback.viewerCount(id)} viewers left)`),
  };
  streams.addOutput(id, output);
  const { viewerId } = await whep.playback.open(id, await recvonlyOffer(cleanups));
  const owner = owners.get(id)!;
  const viewers = owner.viewers!;
  owner.viewers = { end: () => (calls.push("viewers"), viewers.end()) };
  return { h, id, calls, owners, streams, whep, viewerId };
}

describe("DataflowOwners", () => {
  test("end() tears a dataflow down in TEARDOWN_ORDER, once, and leaves no entry behind", async () => {
    const { h, id, calls, owners, streams, whep, viewerId } = await setUp();
    expect(TEARDOWN_ORDER).toEqual(["session", "viewers", "outputs", "forget"]);
    expect(owners.size).toBe(1);
    expect(streams.find(id)?.current?.sessionId).toBe("s-1");
    expect(whep.playback.viewersOf(id).map((v) => v.viewerId)).toEqual([viewerId]);
    expect(whep.playback.demand.size).toBe(1);

    await h.registry.remove(id);
    expect(calls).toEqual([
      "session", "output sessionEnded dataflow-expired", // 1: no more media; the stream's outputs hear it
      "viewers", // 2: the viewers end ("dataflow-ended") while the stream still has its outputs
      "output closed (0 viewers left)", // 3: the stream is disposed with its outputs
    ]);
    expect(whep.playback.ended["dataflow-ended"]).toBe(1);
    await whep.playback.demandSettled();
    // 4: forgotten everywhere.
    expect(owners.size).toBe(0);
    expect(streams.find(id)).toBeUndefined();
    expect([...streams.all()]).toHaveLength(0);
    expect(whep.playback.viewerCount()).toBe(0);
    expect(whep.playback.demand.size).toBe(0);

    owners.end(id); // a second end (another replica's, a late event) finds nothing
    expect(calls).toHaveLength(4);
    expect(whep.playback.ended["dataflow-ended"]).toBe(1);
    expect(owners.size).toBe(0);
  });

  test("an owner goes with its last piece; a failing step is logged and the next steps still run", () => {
    const owners = new DataflowOwners({ log: logger("media") });
    const owner = owners.of(7);
    owner.viewers = { end: () => undefined };
    owners.release(7, "outputs");
    expect(owners.get(7)).toBe(owner); // still holds its viewers
    owners.release(7, "viewers");
    expect(owners.size).toBe(0);

    const ran: string[] = [];
    owners.endSession = () => {
      throw new Error("session end failed");
    };
    owners.of(8).viewers = { end: () => void ran.push("viewers") };
    owners.end(8);
    expect(ran).toEqual(["viewers"]);
    expect(owners.size).toBe(0);
  });
});
