import { describe, expect, test } from "bun:test";
import { DataflowMetadataSchema, DemandRequestSchema } from "../../shared/mod.ts";
import { harness } from "./harness.ts";
import { agentBody, sensor2022 } from "./sensor_body.ts";

const meta = (body: unknown = sensor2022()) => DataflowMetadataSchema.parse(body);
const demand = (d: unknown) => DemandRequestSchema.parse(d);

describe("Registry expiry", () => {
  test("`sweep` on the timer expires a dataflow after 3 missed keep-alive periods, not before", () => {
    const { registry, clock, events } = harness({ keepaliveSeconds: 2 });
    const { id } = registry.register(meta());
    clock.advance(5_000);
    registry.keepalive(id);
    clock.advance(6_000); // exactly 3 periods since the keep-alive: still alive
    expect(events.ended).toEqual([]);
    clock.advance(1_000); // the 1 s sweep notices
    expect(events.ended).toMatchObject([{ id, reason: "expired" }]);
    expect(registry.get(id)).toMatchObject({ active: false, state: "expired" });
  });

  test("`keepalive` notices expiry on read even before the timer runs", () => {
    const { registry, clock, events } = harness();
    registry.stop(); // no timers: only the read can notice
    const { id } = registry.register(meta());
    clock.advance(15_001);
    expect(() => registry.keepalive(id)).toThrow(/has ended/);
    expect(events.ended).toHaveLength(1);
  });

  test("expiry releases the UDP port; ports are never handed out twice", () => {
    const { registry, store, clock } = harness({ ports: { first: 7000, last: 7002 } });
    const a = registry.register(meta());
    const b = registry.register(meta());
    expect(store.allocatedPorts()).toEqual([7000, 7001]);
    registry.remove(a.id);
    const c = registry.register(meta());
    const d = registry.register(meta());
    expect(store.allocatedPorts()).toEqual([7000, 7001, 7002]);
    expect(() => registry.register(meta())).toThrow(/every UDP port of "7000-7002"/);
    clock.advance(20_000);
    expect(store.allocatedPorts()).toEqual([]);
    expect([a.id, b.id, c.id, d.id]).toEqual([1, 2, 3, 4]);
  });
});

describe("Registry demand and send", () => {
  test("a lease by dataflowId, quadkey prefix or dataType turns send on; all selectors must match", () => {
    const { registry } = harness();
    const one = registry.register(meta());
    const two = registry.register(meta(agentBody("032010110301111112", "lidar")));
    registry.createDemand(demand({ quadkey: "0320", dataType: "video" }));
    expect(registry.keepalive(two.id).send).toBe(false); // quadkey matches, dataType does not
    registry.createDemand(demand({ dataType: "lidar" }));
    expect(registry.keepalive(two.id).send).toBe(true);
    expect(registry.keepalive(one.id).send).toBe(false);
    registry.createDemand(demand({ dataflowId: one.id }));
    expect(registry.keepalive(one.id).send).toBe(true);
  });

  test("lease expiry is noticed by the timer and announced as a send change", () => {
    const { registry, clock, events } = harness({ keepaliveSeconds: 100 });
    const { id } = registry.register(meta());
    registry.createDemand(demand({ dataflowId: id, ttlSeconds: 3 }));
    expect(events.send).toEqual([{ id, send: false }, { id, send: true }]);
    clock.advance(2_000);
    expect(events.send).toHaveLength(2);
    clock.advance(1_000);
    expect(events.send.at(-1)).toEqual({ id, send: false });
  });

  test("renewing keeps send on; a renewed lease expires later", () => {
    const { registry, clock, events } = harness({ keepaliveSeconds: 100 });
    const { id } = registry.register(meta());
    const lease = registry.createDemand(demand({ dataflowId: id, ttlSeconds: 3 }));
    clock.advance(2_000);
    registry.renewDemand(lease.id, 3);
    clock.advance(2_000);
    expect(events.send.at(-1)).toEqual({ id, send: true });
    clock.advance(1_000);
    expect(events.send.at(-1)).toEqual({ id, send: false });
    expect(() => registry.renewDemand(lease.id, 3)).toThrow(/does not exist or has expired/);
  });

  test("send policy `always` sends from registration on", () => {
    const { registry, events } = harness({ sendPolicy: "always" });
    const reg = registry.register(meta());
    expect(reg.send).toBe(true);
    expect(events.send).toEqual([{ id: reg.id, send: true }]);
  });

  test("keep-alive with new metadata re-evaluates send for the new quadkey", () => {
    const { registry } = harness();
    const { id } = registry.register(meta());
    registry.createDemand(demand({ quadkey: "0320" }));
    expect(registry.keepalive(id).send).toBe(false);
    expect(registry.keepalive(id, meta(agentBody("0320101103"))).send).toBe(true);
  });
});

describe("Registry ingest interface", () => {
  test("`checkIngestToken` accepts only the dataflow's own token", () => {
    const { registry } = harness();
    const a = registry.register(meta());
    const b = registry.register(meta());
    expect(registry.checkIngestToken(a.id, a.ingest.token)).toBe("ok");
    expect(registry.checkIngestToken(a.id, b.ingest.token)).toBe("denied");
    expect(registry.checkIngestToken(a.id, "")).toBe("denied");
    expect(registry.checkIngestToken(99, a.ingest.token)).toBe("unknown");
    registry.remove(a.id);
    expect(registry.checkIngestToken(a.id, a.ingest.token)).toBe("unknown");
  });

  test("`setMediaState` records live/idle and `ended` carries the last state", () => {
    const { registry, events } = harness();
    const { id } = registry.register(meta());
    registry.setMediaState(id, "live");
    expect(registry.get(id).state).toBe("live");
    registry.remove(id);
    expect(events.state).toEqual([{ id, state: "live" }]);
    expect(events.ended[0]).toMatchObject({ id, reason: "deleted", state: "live" });
  });

  test("a listener that throws does not break registration", () => {
    const { registry } = harness();
    registry.on("registered", () => {
      throw new Error("boom");
    });
    expect(registry.register(meta()).id).toBe(1);
  });
});
