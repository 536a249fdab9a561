// A full `--udp-ports` range: a registration asking for a UDP forward is a one-line JSON 503
// counted in vsb_registrations_rejected_total{reason="ports_exhausted"} (apart from the
// per-sensor limit), a keep-alive that turns the forward on is 503 counted in
// vsb_keepalives_total{result="ports_exhausted"}; dataflows without a forward are not
// affected, and an ended forwarding dataflow gives its port back.
import { describe, expect, test } from "bun:test";
import { harness } from "./harness.ts";
import { agentBody } from "./sensor_body.ts";

describe("UDP forward port pool exhausted", () => {
  test("POST is 503 counted as ports_exhausted; PUT turning the forward on likewise; a freed port is reused", async () => {
    const { json, metrics } = await harness({ ports: { first: 7000, last: 7001 }, udpForward: "requested" });
    const forwarding = () => json("POST", "/dataflows", { ...agentBody(), udpForward: true });
    const first = await (await forwarding()).json() as { id: number };
    expect((await forwarding()).status).toBe(201);
    const refused = await forwarding();
    expect(refused.status).toBe(503);
    const text = await refused.text();
    expect(text).not.toContain("\n");
    expect(JSON.parse(text).error).toBe('every UDP port of "7000-7001" is allocated');
    expect(metrics.render()).toContain('vsb_registrations_rejected_total{reason="ports_exhausted"} 1');
    expect(metrics.render()).toContain('vsb_registrations_rejected_total{reason="per_sensor_limit"} 0');

    const plain = await json("POST", "/dataflows", agentBody());
    expect(plain.status).toBe(201);
    const { id } = await plain.json() as { id: number };
    expect((await json("PUT", `/dataflows/${id}`, { ...agentBody(), udpForward: true })).status).toBe(503);
    expect(metrics.render()).toContain('vsb_keepalives_total{result="ports_exhausted"} 1');

    expect((await json("DELETE", `/dataflows/${first.id}`)).status).toBe(204);
    expect((await forwarding()).status).toBe(201);
    expect(metrics.render()).toContain('vsb_registrations_rejected_total{reason="ports_exhausted"} 1');
  });
});
