// The discovery answer schema: 5GMETA's string ports and `id`, vsb's numbers and `mec_id`.
import { describe, expect, test } from "bun:test";
import { DiscoverySchema, portNumber, ServicePortSchema } from "../../shared/mod.ts";

describe("ServicePortSchema", () => {
  test("accepts a number or a numeric string from 1 to 65535, as sent", () => {
    for (const port of [1, 8080, 65535, "1", "12346", "65535"]) expect(ServicePortSchema.parse(port)).toBe(port);
  });

  test("rejects other values with a message naming the value", () => {
    for (const port of ["12a", "", " 80", "0", "65536", "-1", "1e3", 0, 70000, 1.5, NaN, null, true]) {
      const r = ServicePortSchema.safeParse(port);
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.message).toBe(`port ${JSON.stringify(port)} must be a number or a numeric string from 1 to 65535`);
    }
  });
});

describe("portNumber()", () => {
  test("turns a parsed port into a number", () => {
    expect([portNumber("12346"), portNumber(1883)]).toEqual([12346, 1883]);
  });
});

describe("DiscoverySchema", () => {
  test("reads vsb's `mec_id` and 5GMETA's `id`, ignoring fields it does not know", () => {
    const parsed = DiscoverySchema.parse([
      { mec_id: "local", sb_services: [{ service_name: "registration-api", ip: "127.0.0.1", port: "8080", url: "http://127.0.0.1:8080" }] },
      { id: 1, name: "SanSebastian-MEC", resources: { cpu: "12" }, sb_services: [{ description: "Registration API", ip: "10.0.20.92", port: "12346", service_name: "registration-api" }] },
    ]);
    expect(parsed.map((m) => m.mec_id ?? m.id)).toEqual(["local", 1]);
    expect(parsed[1]!.sb_services[0]).toEqual({ service_name: "registration-api", ip: "10.0.20.92", port: "12346" });
  });
});
