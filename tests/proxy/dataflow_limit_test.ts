// `--max-dataflows-per-sensor`: a sensor identity holds at most N active dataflows; one more is
// a one-line 429 counted in vsb_registrations_rejected_total; an ended one frees its place; the
// limit is per identity (another sensor is not affected) and operators are not limited.
import { describe, expect, test } from "bun:test";
import { harness } from "./harness.ts";
import { agentBody } from "./sensor_body.ts";

const A = "sensor:limit-sensor-a-0123456789";
const B = "sensor:limit-sensor-b-0123456789";
const OPS = "operator:limit-operator-0123456789";
const bearer = (spec: string) => ({ authorization: `Bearer ${spec.slice(spec.indexOf(":") + 1)}` });

describe("POST /dataflows per sensor identity", () => {
  test("the N+1st active dataflow of one sensor is 429, counted; deleting one makes room; others are not limited", async () => {
    const { json, metrics } = await harness({ tokens: [A, B, OPS], maxDataflowsPerSensor: 2 });
    const post = (spec: string) => json("POST", "/dataflows", agentBody(), bearer(spec));
    const first = await (await post(A)).json() as { id: number };
    expect((await post(A)).status).toBe(201);
    const refused = await post(A);
    expect(refused.status).toBe(429);
    const text = await refused.text();
    expect(text).not.toContain("\n");
    expect(JSON.parse(text).error).toMatch(/^"token:token-[0-9a-f]{12}" holds 2 active dataflows, the most --max-dataflows-per-sensor allows$/);
    expect(metrics.render()).toContain('vsb_registrations_rejected_total{reason="per_sensor_limit"} 1');
    expect((await post(B)).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await post(OPS)).status).toBe(201);
    expect((await json("DELETE", `/dataflows/${first.id}`, undefined, bearer(A))).status).toBe(204);
    expect((await post(A)).status).toBe(201);
  });

  test("parallel registrations of one sensor cannot pass the limit", async () => {
    const { json } = await harness({ tokens: [A], maxDataflowsPerSensor: 3 });
    const results = await Promise.all(Array.from({ length: 20 }, () => json("POST", "/dataflows", agentBody(), bearer(A))));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 429)).toHaveLength(17);
  });
});
