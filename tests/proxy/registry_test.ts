import { describe, expect, test } from "bun:test";
import { DataflowMetadataSchema, DemandRequestSchema } from "../../shared/mod.ts";
import { leaseMatches, quadkeyMatches } from "../../proxy/registry/demand_book.ts";
import { harness } from "./harness.ts";
import { agentBody, sensor2022 } from "./sensor_body.ts";

const meta = (body: unknown = sensor2022()) => DataflowMetadataSchema.parse(body);
const demand = (d: unknown) => DemandRequestSchema.parse(d);

describe("Registry expiry", () => {
  test("`sweep` on the timer expires a dataflow after 3 missed keep-alive periods, not before", async () => {
    const { registry, clock, events } = await harness({ keepaliveSeconds: 2 });
    const { id } = await registry.register(meta());
    await clock.advance(5_000);
    await registry.keepalive(id);
    await clock.advance(6_000); // exactly 3 periods since the keep-alive: still alive
    expect(events.ended).toEqual([]);
    await clock.advance(1_000); // the 1 s sweep notices
    expect(events.ended).toMatchObject([{ id, reason: "expired" }]);
    expect(await registry.get(id)).toMatchObject({ active: false, state: "expired" });
  });

  test("`keepalive` notices expiry on read even before the timer runs", async () => {
    const { registry, clock, events } = await harness();
    await registry.stop(); // no timers: only the read can notice
    const { id } = await registry.register(meta());
    await clock.advance(15_001);
    await expect(registry.keepalive(id)).rejects.toThrow(/has ended/);
    expect(events.ended).toHaveLength(1);
  });

  test("expiry releases the UDP port; ports are never handed out twice", async () => {
    const { registry, store, clock } = await harness({ ports: { first: 7000, last: 7002 }, udpForward: "all" });
    const a = await registry.register(meta());
    const b = await registry.register(meta());
    expect(store.allocatedPorts()).toEqual([7000, 7001]);
    await registry.remove(a.id);
    const c = await registry.register(meta());
    const d = await registry.register(meta());
    expect(store.allocatedPorts()).toEqual([7000, 7001, 7002]);
    await expect(registry.register(meta())).rejects.toThrow(/every UDP port of "7000-7002"/);
    await clock.advance(20_000);
    expect(store.allocatedPorts()).toEqual([]);
    expect([a.id, b.id, c.id, d.id]).toEqual([1, 2, 3, 4]);
  });
});

describe("Registry demand and send", () => {
  test("a lease by dataflowId, quadkey prefix or dataType turns send on; all selectors must match", async () => {
    const { registry } = await harness();
    const one = await registry.register(meta());
    const two = await registry.register(meta(agentBody("032010110301111112", "lidar")));
    await registry.createDemand(demand({ quadkey: "0320", dataType: "video" }));
    expect((await registry.keepalive(two.id)).send).toBe(false); // quadkey matches, dataType does not
    await registry.createDemand(demand({ dataType: "lidar" }));
    expect((await registry.keepalive(two.id)).send).toBe(true);
    expect((await registry.keepalive(one.id)).send).toBe(false);
    await registry.createDemand(demand({ dataflowId: one.id }));
    expect((await registry.keepalive(one.id)).send).toBe(true);
  });

  test("lease expiry is noticed by the timer and announced as a send change", async () => {
    const { registry, clock, events } = await harness({ keepaliveSeconds: 100 });
    const { id } = await registry.register(meta());
    await registry.createDemand(demand({ dataflowId: id, ttlSeconds: 3 }));
    expect(events.send).toEqual([{ id, send: false }, { id, send: true }]);
    await clock.advance(2_000);
    expect(events.send).toHaveLength(2);
    await clock.advance(1_000);
    expect(events.send.at(-1)).toEqual({ id, send: false });
  });

  test("renewing keeps send on; a renewed lease expires later", async () => {
    const { registry, clock, events } = await harness({ keepaliveSeconds: 100 });
    const { id } = await registry.register(meta());
    const lease = await registry.createDemand(demand({ dataflowId: id, ttlSeconds: 3 }));
    await clock.advance(2_000);
    await registry.renewDemand(lease.id, 3);
    await clock.advance(2_000);
    expect(events.send.at(-1)).toEqual({ id, send: true });
    await clock.advance(1_000);
    expect(events.send.at(-1)).toEqual({ id, send: false });
    await expect(registry.renewDemand(lease.id, 3)).rejects.toThrow(/does not exist or has expired/);
  });

  test("send policy `always` sends from registration on", async () => {
    const { registry, events } = await harness({ sendPolicy: "always" });
    const reg = await registry.register(meta());
    expect(reg.send).toBe(true);
    expect(events.send).toEqual([{ id: reg.id, send: true }]);
  });

  test("keep-alive with new metadata re-evaluates send for the new quadkey", async () => {
    const { registry } = await harness();
    const { id } = await registry.register(meta());
    await registry.createDemand(demand({ quadkey: "0320" }));
    expect((await registry.keepalive(id)).send).toBe(false);
    expect((await registry.keepalive(id, meta(agentBody("0320101103")))).send).toBe(true);
  });
});

describe("Registry ingest interface", () => {
  test("`checkIngestToken` accepts only the dataflow's own token", async () => {
    const { registry } = await harness();
    const a = await registry.register(meta());
    const b = await registry.register(meta());
    expect(await registry.checkIngestToken(a.id, a.ingest.token)).toBe("ok");
    expect(await registry.checkIngestToken(a.id, b.ingest.token)).toBe("denied");
    expect(await registry.checkIngestToken(a.id, "")).toBe("denied");
    expect(await registry.checkIngestToken(99, a.ingest.token)).toBe("unknown");
    await registry.remove(a.id);
    expect(await registry.checkIngestToken(a.id, a.ingest.token)).toBe("unknown");
  });

  test("`setMediaState` records live/idle and `ended` carries the last state", async () => {
    const { registry, events } = await harness();
    const { id } = await registry.register(meta());
    registry.setMediaState(id, "live");
    expect((await registry.get(id)).state).toBe("live");
    await registry.remove(id);
    expect(events.state).toEqual([{ id, state: "live" }]);
    expect(events.ended[0]).toMatchObject({ id, reason: "deleted", state: "live" });
  });

  test("a listener that throws does not break registration", async () => {
    const { registry } = await harness();
    registry.on("registered", () => {
      throw new Error("boom");
    });
    expect((await registry.register(meta())).id).toBe(1);
  });
});

// sensor2022() registers zoom-18 "031333123201033303" and lat 43.295778, lon -1.980823,
// whose zoom-25 quadkey is "0313331232010333031221303".
const ZOOM22 = "0313331232010333031221";
const ZOOM25 = "0313331232010333031221303";

describe("Registry quadkey demand deeper than the sent locationQuadkey", () => {
  test("a zoom-22 and a zoom-25 prefix lease turn send on for a zoom-18 registration with lat/lon", async () => {
    for (const prefix of [ZOOM22, ZOOM25]) {
      const { registry, events } = await harness();
      const { id } = await registry.register(meta());
      await registry.createDemand(demand({ quadkey: prefix }));
      expect(events.send).toEqual([{ id, send: false }, { id, send: true }]);
      expect((await registry.keepalive(id)).send).toBe(true);
    }
  });

  test("a prefix for a neighbouring tile at zoom 22 or 25 does not", async () => {
    for (const prefix of ["0313331232010333031220", "0313331232010333031221302", "0320"]) {
      const { registry } = await harness();
      const { id } = await registry.register(meta());
      await registry.createDemand(demand({ quadkey: prefix }));
      expect((await registry.keepalive(id)).send).toBe(false);
    }
  });

  test("the sent zoom-18 key and its prefixes still match", async () => {
    const { registry } = await harness();
    const { id } = await registry.register(meta());
    await registry.createDemand(demand({ quadkey: "031333123201033303" }));
    expect((await registry.keepalive(id)).send).toBe(true);
  });

  test("keep-alive with moved coordinates moves the zoom-25 key, and send with it", async () => {
    const { registry } = await harness();
    const { id } = await registry.register(meta());
    await registry.createDemand(demand({ quadkey: ZOOM25 }));
    expect((await registry.keepalive(id)).send).toBe(true);
    const moved = sensor2022() as any;
    moved.dataSourceInfo.sourceLocationInfo.locationLatitude = 43.2958; // same zoom-18 tile, another zoom-25 one
    expect((await registry.keepalive(id, meta(moved))).send).toBe(false);
    expect((await registry.keepalive(id, meta())).send).toBe(true);
  });

  test("`list` filters by a zoom-22 or zoom-25 prefix, active and ended", async () => {
    const { registry } = await harness();
    const a = await registry.register(meta());
    const b = await registry.register(meta(agentBody()));
    const c = await registry.register(meta());
    await registry.remove(c.id);
    const ids = async (quadkey: string) => (await registry.list({ quadkey })).map((r) => r.id);
    expect(await ids(ZOOM22)).toEqual([a.id, c.id]);
    expect(await ids(ZOOM25)).toEqual([a.id, c.id]);
    expect(await ids("0313331232010333031221302")).toEqual([]);
    expect(await ids("0320101103011111120113320")).toEqual([b.id]);
  });
});

describe("quadkeyMatches()", () => {
  test("a sent key shorter than the prefix, without coordinates, does not match it", async () => {
    const noPosition = { quadkey: "031333123201033303" };
    expect(quadkeyMatches("0313", noPosition)).toBe(true);
    expect(quadkeyMatches("031333123201033303", noPosition)).toBe(true);
    expect(quadkeyMatches(ZOOM22, noPosition)).toBe(false);
    expect(leaseMatches({ quadkey: ZOOM22 }, { id: 1, dataType: "video", ...noPosition })).toBe(false);
  });

  test("matches the sent key or the position key, so a tile-edge rounding difference loses nothing", async () => {
    // Within a pixel of a zoom-18 edge, pygeotile's zoom-25 key can start in the neighbour tile.
    const edge = { quadkey: "031333123201033303", positionQuadkey: "0313331232010333121000000" };
    expect(quadkeyMatches("031333123201033303", edge)).toBe(true);
    expect(quadkeyMatches("031333123201033312", edge)).toBe(true);
    expect(quadkeyMatches("031333123201033302", edge)).toBe(false);
  });
});

describe("Registry UDP forward on demand", () => {
  const asking = (udpForward?: boolean) => meta({ ...sensor2022(), ...(udpForward === undefined ? {} : { udpForward }) });

  test("`requested` (the default) gives a port only to a registration that asks; `all` to all but those that refuse; `off` to none", async () => {
    const requested = await harness();
    expect((await requested.registry.register(asking())).udpForward).toBeNull();
    expect((await requested.registry.register(asking(false))).udpForward).toBeNull();
    expect((await requested.registry.register(asking(true))).udpForward).toEqual({ host: "127.0.0.1", port: 5000 });
    expect(requested.store.allocatedPorts()).toEqual([5000]);

    const all = await harness({ udpForward: "all" });
    expect((await all.registry.register(asking())).udpForward).toEqual({ host: "127.0.0.1", port: 5000 });
    expect((await all.registry.register(asking(false))).udpForward).toBeNull();
    expect(all.store.allocatedPorts()).toEqual([5000]);

    expect(all.registry.counts().forwarding).toBe(1);

    const off = await harness({ udpForward: "off" });
    const refused = await off.registry.register(asking(true));
    expect(refused.udpForward).toBeNull();
    expect((await off.registry.get(refused.id)).udpForward).toBeNull();
    expect(off.store.allocatedPorts()).toEqual([]);
  });

  test("a keep-alive whose metadata asks for the forward takes a port; one that stops asking releases it", async () => {
    const { registry, store } = await harness();
    const { id } = await registry.register(asking());
    await registry.keepalive(id, asking(true));
    expect((await registry.get(id)).udpForward).toEqual({ host: "127.0.0.1", port: 5000 });
    await registry.keepalive(id, asking(true)); // unchanged: the same port
    expect(store.allocatedPorts()).toEqual([5000]);
    await registry.keepalive(id, asking(false));
    expect((await registry.get(id)).udpForward).toBeNull();
    expect(store.allocatedPorts()).toEqual([]);
  });

  test("a full port range refuses only registrations that forward", async () => {
    const { registry } = await harness({ ports: { first: 7000, last: 7000 } });
    await registry.register(asking(true));
    await expect(registry.register(asking(true))).rejects.toThrow(/every UDP port of "7000-7000"/);
    expect((await registry.register(asking())).udpForward).toBeNull();
  });
});

describe("Registry presence from media", () => {
  test("`mediaSeen` keeps a dataflow without keep-alives present; expiry runs from the last packet once media stops", async () => {
    const { registry, clock, events } = await harness({ keepaliveSeconds: 5 });
    const { id } = await registry.register(meta());
    for (let t = 0; t < 60; t++) { // a minute of media, reported once a second, no PUT
      await clock.advance(1_000);
      registry.mediaSeen(id, clock.now());
    }
    expect(events.ended).toEqual([]);
    const lastPacket = clock.now();
    expect(await registry.get(id)).toMatchObject({ active: true, lastMediaAt: new Date(lastPacket).toISOString() });
    await clock.advance(15_000); // exactly 3 periods after the last packet: still present
    expect(events.ended).toEqual([]);
    await clock.advance(1_000);
    expect(events.ended).toMatchObject([{ id, reason: "expired" }]);
    const ended = await registry.get(id);
    expect(ended).toMatchObject({ active: false, lastMediaAt: new Date(lastPacket).toISOString() });
    expect(Date.parse(ended.lastSeenAt)).toBeLessThan(lastPacket); // the registration: no keep-alive was sent
  });

  test("a keep-alive later than the last packet counts from the keep-alive; an older media report changes nothing", async () => {
    const { registry, clock, events } = await harness({ keepaliveSeconds: 5 });
    const { id } = await registry.register(meta());
    await clock.advance(1_000);
    registry.mediaSeen(id, clock.now());
    const media = clock.now();
    await clock.advance(10_000);
    await registry.keepalive(id);
    registry.mediaSeen(id, media - 500); // late report of an older packet
    expect((await registry.get(id)).lastMediaAt).toBe(new Date(media).toISOString());
    await clock.advance(15_000);
    expect(events.ended).toEqual([]);
    await clock.advance(1_000);
    expect(events.ended).toHaveLength(1);
  });

  test("a dataflow never given media has no lastMediaAt", async () => {
    const { registry } = await harness();
    const { id } = await registry.register(meta());
    expect((await registry.get(id)).lastMediaAt).toBeUndefined();
  });
});
