// ViewerDemand with a fake clock: a lease while watched, renewed before its TTL runs out;
// a wake lease that lapses after one TTL; released when the last viewer leaves.
import { describe, expect, test } from "bun:test";
import { logger } from "../../../proxy/log.ts";
import { ViewerDemand } from "../../../proxy/whep/viewer_demand.ts";
import { DataflowMetadataSchema } from "../../../shared/mod.ts";
import { harness } from "../harness.ts";
import { agentBody } from "../sensor_body.ts";

async function setup() {
  const h = await harness();
  const demand = new ViewerDemand(h.registry, logger("whep"), { ttlSeconds: 30, now: () => h.clock.now() });
  const id = (await h.registry.register(DataflowMetadataSchema.parse(agentBody()))).id;
  // Lease calls run in the background: settled() waits for the registry's answers first.
  const send = async () => {
    await demand.settled();
    return (await h.registry.get(id)).send;
  };
  const advance = async (ms: number) => {
    await h.clock.advance(ms);
    await h.registry.keepalive(id); // the sensor stays registered meanwhile
    demand.tick();
    await demand.settled();
  };
  return { ...h, demand, id, send, advance };
}

describe("ViewerDemand", () => {
  test("setViewing() holds a lease across many TTLs when tick() runs, and releases it at once", async () => {
    const s = await setup();
    s.demand.setViewing(s.id, true);
    expect(await s.send()).toBe(true);
    for (let i = 0; i < 12; i++) await s.advance(5_000);
    expect(await s.send()).toBe(true); // 60 s later, still wanted
    s.demand.setViewing(s.id, false);
    expect(s.demand.size).toBe(0);
    expect(await s.send()).toBe(false);
  });

  test("wake() wants the dataflow for one TTL, then lets it go", async () => {
    const s = await setup();
    s.demand.wake(s.id);
    expect(await s.send()).toBe(true);
    for (let i = 0; i < 29; i++) await s.advance(1_000);
    expect(await s.send()).toBe(true);
    await s.advance(2_000);
    expect(await s.send()).toBe(false);
    expect(s.demand.leaseOf(s.id)).toBeUndefined();
  });
});
