// `ViewerCaps`: reservations count against both caps until released, a release is idempotent,
// and refusals are counted by reason.
import { describe, expect, test } from "bun:test";
import { TooManyViewersError, ViewerCaps } from "../../../proxy/whep/viewer_caps.ts";

describe("ViewerCaps", () => {
  test("reserve() counts slots being negotiated against both caps; release() frees one, once", () => {
    const established = new Map<number, number>();
    const counts = (id?: number) => id === undefined ? [...established.values()].reduce((a, b) => a + b, 0) : established.get(id) ?? 0;
    const caps = new ViewerCaps(counts, { total: 3, perDataflow: 2 });
    const a1 = caps.reserve(1);
    caps.reserve(1);
    expect(() => caps.reserve(1)).toThrow(TooManyViewersError);
    expect(caps.rejected).toEqual({ total_limit: 0, per_dataflow_limit: 1 });
    const b1 = caps.reserve(2);
    const error = (() => {
      try {
        caps.reserve(3);
      } catch (e) {
        return e as TooManyViewersError;
      }
    })();
    expect(error).toMatchObject({ reason: "total_limit", limit: 3, message: "this proxy already serves 3 WHEP viewers, the most --max-whep-viewers allows" });
    expect(caps.negotiating()).toBe(3);
    a1();
    a1();
    expect(caps.negotiating()).toBe(2);
    expect(caps.negotiating(1)).toBe(1);
    established.set(1, 1); // the released one became a viewer: still counted
    b1(); // room in total, none for dataflow 1
    expect(() => caps.reserve(1)).toThrow("dataflow 1 already has 2 WHEP viewers, the most --max-whep-viewers-per-dataflow allows");
    expect(caps.rejected).toEqual({ total_limit: 1, per_dataflow_limit: 2 });
  });
});
