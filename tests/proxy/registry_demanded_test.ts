// The registry's "demanded" event: a lease that names a dataflow tells the media side to ask that
// dataflow's publisher for a keyframe (MediaStreams), even when `send` was on already; a lease
// by tile or type names none and says nothing. (Another replica's lease: tests/e2e/replicas_whep_test.ts.)
import { describe, expect, test } from "bun:test";
import { harness } from "./harness.ts";
import { agentBody } from "./sensor_body.ts";

describe("Registry \"demanded\"", () => {
  test("createDemand() naming a dataflow emits it, also while send is on already; a quadkey lease does not", async () => {
    const h = await harness();
    const id = (await (await h.json("POST", "/dataflows", agentBody())).json()).id as number;
    await h.registry.createDemand({ dataflowId: id, ttlSeconds: 60 });
    expect(h.events.send.at(-1)).toEqual({ id, send: true });
    await h.registry.createDemand({ dataflowId: id, ttlSeconds: 60 });
    expect(h.events.demanded).toEqual([{ id }, { id }]);
    await h.registry.createDemand({ quadkey: "0", ttlSeconds: 60 });
    expect(h.events.demanded).toHaveLength(2);
  });
});
