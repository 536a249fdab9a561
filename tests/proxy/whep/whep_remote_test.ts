// WhepPlayback with a source that says the dataflow is ingested on another replica (in memory,
// `app.request()`, real werift answers): it plays when the shared store says that replica's
// ingest is live, whatever this replica's memory says; 503 + a demand otherwise (503 + Retry-After
// 5 while that store is down); the remote source is followed only while watched (not cached
// while live) and released with the last viewer, and no PLI is asked of it.
import { afterAll, describe, expect, test } from "bun:test";
import type { RouteModule } from "../../../proxy/api/create_app.ts";
import { StoreUnavailableError } from "../../../proxy/registry/errors.ts";
import type { UnitSource } from "../../../proxy/whep/whep_playback.ts";
import { createWhep, WHEP_PREFIX, type Whep, type WhepParts } from "../../../proxy/whep/whep_module.ts";
import { SDP_CONTENT_TYPE } from "../../../shared/mod.ts";
import { LOOPBACK_ICE } from "../../e2e/whip_harness.ts";
import { recvonlyOffer } from "../../e2e/whep_player.ts";
import { harness } from "../harness.ts";
import { agentBody } from "../sensor_body.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** A source whose dataflows are all ingested elsewhere; `live` says what the shared store says. */
function remoteSource() {
  const source = {
    live: false as boolean | "store-down", followed: 0, released: 0, keyframeRequests: 0,
    addOutput: () => {
      source.followed++;
      return () => void source.released++;
    },
    requestKeyframe: () => {
      source.keyframeRequests++;
      return false;
    },
    isLocal: () => false,
    remoteLive: async () => {
      if (source.live === "store-down") throw new StoreUnavailableError("the store did not answer");
      return source.live;
    },
  };
  return source satisfies UnitSource;
}

async function setup() {
  const source = remoteSource();
  const hold: { whep?: Whep } = {};
  const module: RouteModule = {
    publicPrefixes: [WHEP_PREFIX],
    mount(app, ctx) {
      const config: WhepParts["config"] = { iceAddresses: ["127.0.0.1"], iceServers: [] };
      hold.whep = createWhep({ config, registry: ctx.registry, metrics: ctx.metrics }, source, { ice: LOOPBACK_ICE });
      cleanups.push(() => hold.whep!.playback.close());
      hold.whep.module.mount(app, ctx);
    },
  };
  const h = await harness({ tokens: [], routes: [module] });
  const id = (await (await h.json("POST", "/dataflows", agentBody())).json()).id as number;
  const post = async () => h.app.request(`/whep/${id}`, { method: "POST", headers: { "content-type": SDP_CONTENT_TYPE }, body: await recvonlyOffer(cleanups) });
  return { ...h, source, id, post, playback: () => hold.whep!.playback };
}

describe("WhepPlayback of a dataflow ingested on another replica", () => {
  test("503 + a demand while the shared store does not say live, though this replica's memory says live", async () => {
    const s = await setup();
    s.registry.setMediaState(s.id, "live"); // stale memory: no local session
    const res = await s.post();
    expect(res.status).toBe(503);
    expect(s.playback().demand.leaseOf(s.id)).toBeDefined();
    expect(s.source.followed).toBe(0); // a "live" state does not follow a remote dataflow to cache its GOP
  });

  test("503 + Retry-After 5 while the shared store cannot be read", async () => {
    const s = await setup();
    s.source.live = "store-down";
    const res = await s.post();
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await res.json()).error).toContain("did not answer");
  });

  test("201 once the store says live; followed while watched, released with the last viewer; no PLI asked of it", async () => {
    const s = await setup();
    s.source.live = true;
    const res = await s.post();
    expect(res.status).toBe(201);
    expect(s.source.followed).toBe(1);
    expect(s.playback().viewerCount(s.id)).toBe(1);
    expect(s.events.send.at(-1)).toEqual({ id: s.id, send: true }); // the viewer is demand
    s.registry.setMediaState(s.id, "live"); // even a memory that says live keeps no remote queue without viewers
    const location = res.headers.get("location")!;
    expect((await s.app.request(location, { method: "DELETE" })).status).toBe(200);
    expect(s.source.released).toBe(1);
    expect(s.playback().viewerCount(s.id)).toBe(0);
    expect(s.events.send.at(-1)).toEqual({ id: s.id, send: false });
  });
});
