// The cache of verified JWT identities (identity_cache.ts) against a real JWKS endpoint
// (Bun.serve on 127.0.0.1) and tokens signed by hono's `sign`: a cached token stops working the
// moment it expires, a token whose key left the JWKS stops once the keys are fetched again, and
// the cache is bounded.
import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { sign } from "hono/jwt";
import { IdentityCache } from "../../proxy/api/identity_cache.ts";
import { harness } from "./harness.ts";

type Jwk = Record<string, unknown>;
const ISSUER = "https://kc.test/realms/mec";
const AUDIENCE = "vsb-proxy";

function keyPair(kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    pub: { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } as Jwk,
    priv: { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256" } as Jwk,
  };
}
const k1 = keyPair("k1");
const k2 = keyPair("k2");
let published: Jwk[] = [k1.pub];
const jwks = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ keys: published }) });
afterAll(() => jwks.stop(true));

const seconds = () => Math.floor(Date.now() / 1000);
// deno-lint-ignore no-explicit-any
const token = (exp: number, key: Jwk = k1.priv) => sign({ iss: ISSUER, aud: AUDIENCE, sub: "car-9", exp, iat: seconds() - 5, realm_access: { roles: ["consumer"] } } as any, key as any);

async function setup(jwksNow?: () => number) {
  const h = await harness({
    jwt: { jwksUrl: `http://127.0.0.1:${jwks.port}/certs`, issuer: ISSUER, audience: AUDIENCE, roleClaim: "realm_access.roles", maxAgeMs: 60_000, ...(jwksNow ? { now: jwksNow } : {}) },
  });
  return (jwt: string) => h.json("GET", "/dataflows", undefined, { authorization: `Bearer ${jwt}` });
}

describe("cached JWT identities", () => {
  test("a token answered from the cache stops working the moment it expires", async () => {
    published = [k1.pub];
    const get = await setup();
    const exp = seconds() + 2;
    const jwt = await token(exp);
    // A request that straddles exp may get either answer: "before" ended before exp, "after"
    // started at or past it; asking goes on until one started past exp was refused.
    const seen: { at: number; done: number; status: number }[] = [];
    const deadline = Date.now() + 6_000;
    const refusedAfterExp = () => seen.some((s) => s.at >= exp * 1000 && s.status === 401);
    while (Date.now() < deadline && !refusedAfterExp()) {
      const at = Date.now();
      const status = (await get(jwt)).status;
      seen.push({ at, done: Date.now(), status });
    }
    const before = seen.filter((s) => s.done < exp * 1000);
    const after = seen.filter((s) => s.at >= exp * 1000);
    expect(before.length).toBeGreaterThan(1); // answered more than once while valid (from the cache after the first)
    expect(before.every((s) => s.status === 200)).toBe(true);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((s) => s.status === 401)).toBe(true);
  });

  test("a token whose key left the JWKS is refused once the keys are fetched again; its replacement works", async () => {
    published = [k1.pub];
    let now = 1_000_000;
    const get = await setup(() => now);
    const old = await token(seconds() + 300);
    expect((await get(old)).status).toBe(200);
    expect((await get(old)).status).toBe(200); // cached
    published = [k2.pub]; // k1 rotated out (revoked)
    now += 60_001; // the keys are older than maxAgeMs: the next request fetches them
    expect((await get(old)).status).toBe(401);
    expect((await get(await token(seconds() + 300, k2.priv))).status).toBe(200);
  });
});

describe("IdentityCache", () => {
  const id = (name: string) => ({ name, roles: new Set<never>() });

  test("keeps at most `max` entries, dropping the least recently used", () => {
    const cache = new IdentityCache(2, () => 0);
    cache.set("a", id("a"), 10, 1);
    cache.set("b", id("b"), 10, 1);
    expect(cache.get("a", 1)?.name).toBe("a"); // a is now the most recent
    cache.set("c", id("c"), 10, 1);
    expect(cache.size).toBe(2);
    expect(cache.get("b", 1)).toBeUndefined();
    expect(cache.get("a", 1)?.name).toBe("a");
    expect(cache.get("c", 1)?.name).toBe("c");
  });

  test("an entry is gone at its expiry and for another key generation", () => {
    let now = 0;
    const cache = new IdentityCache(10, () => now);
    cache.set("a", id("a"), 100, 1);
    cache.set("b", id("b"), 100, 1);
    now = 99;
    expect(cache.get("a", 1)?.name).toBe("a");
    now = 100;
    expect(cache.get("a", 1)).toBeUndefined();
    now = 0;
    expect(cache.get("b", 2)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
