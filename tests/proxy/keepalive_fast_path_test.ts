// The keep-alive's fast path (a body-less PUT answered without a promise while the flow is live
// in memory) must answer exactly as the full path does: the owner check before anything is
// refreshed, a flow whose keep-alives ran out is ended and 404, a lease that ran out by the
// keep-alive turns `send` off in that very answer.
import { describe, expect, test } from "bun:test";
import { authenticator, bearerToken, tokenTable } from "../../proxy/api/auth.ts";
import { parseApiToken } from "../../proxy/config/api_tokens.ts";
import { KeepaliveSchema } from "../../shared/mod.ts";
import { FakeClock } from "./fake_clock.ts";
import { harness } from "./harness.ts";
import { sensor2022 } from "./sensor_body.ts";

const A = "sensor-a-token-0123456789abcdef";
const B = "sensor-b-token-0123456789abcdef";
const OP = "operator-token-0123456789abcdef";
const TOKENS = [`sensor:${A}`, `sensor:${B}`, `operator:${OP}`];

/** A body-less keep-alive as agents and the bench send it: `Content-Length: 0`. */
function keepalive(app: Awaited<ReturnType<typeof harness>>["app"], id: number, token: string) {
  return app.request(`/dataflows/${id}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-length": "0" } });
}

async function registered(token = A) {
  const h = await harness({ tokens: TOKENS, keepaliveSeconds: 5 });
  const res = await h.json("POST", "/dataflows", sensor2022(), { authorization: `Bearer ${token}` });
  expect(res.status).toBe(201);
  return { ...h, id: (await res.json()).id as number };
}

describe("PUT /dataflows/{id} with Content-Length: 0", () => {
  test("answers {id, send, keepaliveSeconds, controlSeq} and keeps the flow present", async () => {
    const { app, id, clock, events } = await registered();
    for (let i = 0; i < 4; i++) {
      const res = await keepalive(app, id, A);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(KeepaliveSchema.parse(await res.json())).toEqual({ id, send: false, keepaliveSeconds: 5, controlSeq: expect.any(Number) });
      await clock.advance(10_000); // two periods each time: 40 s in all, past the 15 s expiry without keep-alives
    }
    expect(events.ended).toEqual([]);
  });

  test("another sensor's token is 403 and keeps nothing alive; the operator's keeps it alive", async () => {
    const { app, id, clock, events } = await registered();
    await clock.advance(10_000);
    const res = await keepalive(app, id, B);
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe(`dataflow "${id}" was not registered by "token:${parseName(B)}"`);
    await clock.advance(6_000); // the sweep at 16 s, past A's 15 s: B's call did not count
    expect(events.ended).toMatchObject([{ id, reason: "expired" }]);

    const other = await registered();
    await other.clock.advance(10_000);
    expect((await keepalive(other.app, other.id, OP)).status).toBe(200);
    await other.clock.advance(10_000);
    expect(other.events.ended).toEqual([]);
  });

  test("a flow whose keep-alives ran out (its sweep not run yet) is ended and 404", async () => {
    const clock = new FakeClock();
    const h = await harness({ tokens: TOKENS, keepaliveSeconds: 5, clock });
    const { id } = await (await h.json("POST", "/dataflows", sensor2022(), { authorization: `Bearer ${A}` })).json();
    await clock.advance(15_000); // the sweep at 15 s finds it not due yet (more than 15 s is)
    await clock.advance(1); // due now; the next sweep is at 16 s
    const res = await keepalive(h.app, id, A);
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatch(new RegExp(`dataflow "${id}" has ended`));
    expect(h.events.ended).toMatchObject([{ id, reason: "expired" }]);
  });

  test("a lease that ran out by the keep-alive (its sweep not run yet) turns send off in that answer", async () => {
    const clock = new FakeClock();
    const h = await harness({ tokens: TOKENS, keepaliveSeconds: 60, clock });
    const { id } = await (await h.json("POST", "/dataflows", sensor2022(), { authorization: `Bearer ${A}` })).json();
    await clock.advance(1_500);
    const lease = await h.json("POST", "/demands", { quadkey: "0313", ttlSeconds: 2 }, { authorization: `Bearer ${OP}` });
    expect(lease.status).toBe(201);
    expect((await (await keepalive(h.app, id, A)).json()).send).toBe(true);
    await clock.advance(2_000); // 3.5 s: the lease is due, the sweeps ran at 2 s and 3 s, the next is at 4 s
    expect((await (await keepalive(h.app, id, A)).json()).send).toBe(false);
  });
});

describe("authenticator() with static tokens", () => {
  test("answers the identity without a promise; an unknown or missing token is 401", () => {
    const tokens = TOKENS.map((t) => parseApiToken(t)).filter((t) => typeof t !== "string");
    const authenticate = authenticator({ tokens });
    const ctx = (header?: string) => ({ req: { header: () => header } }) as never;
    const identity = authenticate(ctx(`Bearer ${A}`));
    expect(identity).not.toBeInstanceOf(Promise);
    expect(identity).toMatchObject({ name: `token:${parseName(A)}`, roles: new Set(["sensor"]) });
    expect(() => authenticate(ctx(`Bearer ${A.slice(0, -1)}x`))).toThrow("API token is not valid");
    expect(() => authenticate(ctx())).toThrow("missing Authorization: Bearer token");
  });
});

describe("bearerToken()", () => {
  test("takes the token of `Bearer TOKEN` in any case and spacing, and nothing else", () => {
    const cases: [string | undefined, string | undefined][] = [
      ["Bearer abc", "abc"], ["bearer abc", "abc"], ["BEARER  abc ", "abc"], ["Bearer\tabc", "abc"], ["Bearer abc\t", "abc"],
      ["Bearer ", undefined], ["Bearer", undefined], ["Bearer a b", undefined], ["Basic abc", undefined], [" Bearer abc", undefined],
      ["Bearer a\nb", undefined], ["", undefined], [undefined, undefined],
    ];
    for (const [header, token] of cases) expect([header, bearerToken(header)]).toEqual([header, token]);
  });
});

describe("tokenTable()", () => {
  test("finds a token by its digest; a prefix, an extension or a one-character change is not found; the last duplicate wins", () => {
    const find = tokenTable([["alpha-token", 1], ["beta-token", 2], ["alpha-token", 3]]);
    expect(find("beta-token")).toBe(2);
    expect(find("alpha-token")).toBe(3);
    for (const wrong of ["alpha-toke", "alpha-tokenx", "alpha-tokem", "", "ALPHA-TOKEN"]) expect(find(wrong)).toBeUndefined();
  });
});

/** The name the proxy gives a static token without one. */
function parseName(token: string): string {
  const parsed = parseApiToken(`sensor:${token}`);
  if (typeof parsed === "string") throw new Error(parsed);
  return parsed.name;
}
