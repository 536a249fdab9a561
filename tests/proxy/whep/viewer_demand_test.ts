// ViewerDemand with a fake clock: a lease while watched, renewed before its TTL runs out;
// a wake lease that lapses after one TTL; released when the last viewer leaves.
import { describe, expect, test } from "bun:test";
import { logger } from "../../../proxy/log.ts";
import { ViewerDemand } from "../../../proxy/whep/viewer_demand.ts";
import { DataflowMetadataSchema } from "../../../shared/mod.ts";
import { harness } from "../harness.ts";
import { agentBody } from "../sensor_body.ts";

function setup() {
  const h = harness();
  const demand = new ViewerDemand(h.registry, logger("whep"), { ttlSeconds: 30, now: () => h.clock.now() });
  const id = h.registry.register(DataflowMetadataSchema.parse(agentBody())).id;
  const send = () => h.registry.get(id).send;
  const advance = (ms: number) => {
    h.clock.advance(ms);
    h.registry.keepalive(id); // the sensor stays registered meanwhile
    demand.tick();
  };
  return { ...h, demand, id, send, advance };
}

describe("ViewerDemand", () => {
  test("setViewing() holds a lease across many TTLs when tick() runs, and releases it at once", () => {
    const s = setup();
    s.demand.setViewing(s.id, true);
    expect(s.send()).toBe(true);
    for (let i = 0; i < 12; i++) s.advance(5_000);
    expect(s.send()).toBe(true); // 60 s later, still wanted
    s.demand.setViewing(s.id, false);
    expect(s.send()).toBe(false);
    expect(s.demand.size).toBe(0);
  });

  test("wake() wants the dataflow for one TTL, then lets it go", () => {
    const s = setup();
    s.demand.wake(s.id);
    expect(s.send()).toBe(true);
    for (let i = 0; i < 29; i++) s.advance(1_000);
    expect(s.send()).toBe(true);
    s.advance(2_000);
    expect(s.send()).toBe(false);
    expect(s.demand.leaseOf(s.id)).toBeUndefined();
  });
});
