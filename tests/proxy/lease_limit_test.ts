// `--max-leases-per-client` and `--max-leases`: a consumer identity holds at most N live demand
// leases and all clients together at most M; one more POST /demands is a one-line JSON 429
// counted in vsb_leases_rejected_total{reason}; parallel POSTs cannot pass either bound; a
// deleted or expired lease frees its place; operators are not limited per client.
import { describe, expect, test } from "bun:test";
import { harness } from "./harness.ts";

const A = "consumer:lease-consumer-a-0123456789";
const B = "consumer:lease-consumer-b-0123456789";
const C = "consumer:lease-consumer-c-0123456789";
const OPS = "operator:lease-operator-0123456789";
const bearer = (spec: string) => ({ authorization: `Bearer ${spec.slice(spec.indexOf(":") + 1)}` });

describe("POST /demands bounds", () => {
  test("the N+1st live lease of one client is 429, counted; deleting or expiry makes room; others and operators are not limited", async () => {
    const { json, metrics, clock } = await harness({ tokens: [A, B, OPS], maxLeasesPerClient: 2 });
    const post = (spec: string, ttlSeconds = 60) => json("POST", "/demands", { quadkey: "0313", ttlSeconds }, bearer(spec));
    const first = await (await post(A)).json() as { id: string };
    expect((await post(A, 5)).status).toBe(201);
    const refused = await post(A);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/json");
    const text = await refused.text();
    expect(text).not.toContain("\n");
    expect(JSON.parse(text).error).toMatch(/^"token:token-[0-9a-f]{12}" holds 2 demand leases, the most --max-leases-per-client allows$/);
    expect(metrics.render()).toContain('vsb_leases_rejected_total{reason="per_client_limit"} 1');
    expect((await post(B)).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await post(OPS)).status).toBe(201);
    expect((await json("DELETE", `/demands/${first.id}`, undefined, bearer(A))).status).toBe(204);
    expect((await post(A)).status).toBe(201);
    expect((await post(A)).status).toBe(429);
    await clock.advance(6_000); // the 5 s lease ran out
    expect((await post(A)).status).toBe(201);
  });

  test("parallel POSTs of one client cannot pass the per-client bound", async () => {
    const { json, registry } = await harness({ tokens: [A], maxLeasesPerClient: 3 });
    const results = await Promise.all(Array.from({ length: 30 }, () => json("POST", "/demands", { dataType: "video", ttlSeconds: 60 }, bearer(A))));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 429)).toHaveLength(27);
    expect(registry.demandCount()).toBe(3);
  });

  test("the total bound holds over clients (operators included), in parallel, counted as total_limit", async () => {
    const { json, metrics, registry } = await harness({ tokens: [A, B, C, OPS], maxLeasesPerClient: 100, maxLeases: 5 });
    const results = await Promise.all([A, B, C, OPS].flatMap((spec) =>
      Array.from({ length: 10 }, () => json("POST", "/demands", { dataType: "video", ttlSeconds: 60 }, bearer(spec)))));
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(35);
    expect((await refused[0]!.json()).error).toBe("the proxy holds 5 demand leases, the most --max-leases allows");
    expect(registry.demandCount()).toBe(5);
    expect(metrics.render()).toContain('vsb_leases_rejected_total{reason="total_limit"} 35');
  });
});
