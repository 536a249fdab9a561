// OIDC bearer JWTs against a real JWKS endpoint (Bun.serve on 127.0.0.1) with RSA keys made
// by node:crypto and tokens signed by hono's own `sign`: a valid token's role decides 200 or
// 403; a wrong issuer, wrong audience, expired token, wrong key or missing exp is 401; the
// JWKS is fetched once, not per request, and again for a new kid (key rotation).
import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { sign } from "hono/jwt";
import type { JwtAuthOptions } from "../../proxy/api/jwt_auth.ts";
import { rolesFromClaim } from "../../proxy/api/jwt_auth.ts";
import { harness } from "./harness.ts";
import { agentBody } from "./sensor_body.ts";

type JsonWebKey = Record<string, unknown>;

const ISSUER = "https://kc.test/realms/mec";
const AUDIENCE = "vsb-proxy";

function keyPair(kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pub = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } as JsonWebKey;
  const priv = { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256" } as JsonWebKey;
  return { pub, priv };
}

const k1 = keyPair("k1");
const k2 = keyPair("k2");
const impostor = keyPair("k1"); // same kid, another key
let published: JsonWebKey[] = [k1.pub];
let fetches = 0;
let jwksUp = true;
const jwks = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => {
    fetches++;
    return jwksUp ? Response.json({ keys: published }) : new Response("down", { status: 503 });
  },
});
afterAll(() => jwks.stop(true));

const now = () => Math.floor(Date.now() / 1000);
type Claims = Record<string, unknown>;
const claims = (extra: Claims = {}): Claims => ({
  iss: ISSUER, aud: AUDIENCE, sub: "car-17", exp: now() + 300, iat: now() - 5, realm_access: { roles: ["sensor"] }, ...extra,
});
// deno-lint-ignore no-explicit-any
const token = (c: Claims, key: JsonWebKey = k1.priv) => sign(c as any, key as any);

async function setup(options: Partial<JwtAuthOptions> = {}) {
  const h = await harness({
    jwt: { jwksUrl: `http://127.0.0.1:${jwks.port}/certs`, issuer: ISSUER, audience: AUDIENCE, roleClaim: "realm_access.roles", ...options },
  });
  const as = async (method: string, path: string, jwt: string, body?: unknown) =>
    await h.json(method, path, body, { authorization: `Bearer ${jwt}` });
  return { ...h, as };
}

describe("OIDC bearer JWTs (hono/jwk)", () => {
  test("a valid token: its role claim decides 200 or 403, and its sub owns what it registers", async () => {
    const s = await setup();
    const sensor = await token(claims());
    const posted = await s.as("POST", "/dataflows", sensor, agentBody());
    expect(posted.status).toBe(201);
    const { id } = await posted.json() as { id: number };
    expect(await s.registry.ownerOf(id)).toBe("oidc:car-17");
    expect((await s.as("PUT", `/dataflows/${id}`, sensor)).status).toBe(200);
    const forbidden = await s.as("GET", "/dataflows", sensor);
    expect(forbidden.status).toBe(403);
    expect((await forbidden.json()).error).toBe('"sensor" may not GET /dataflows: it needs "consumer" or "operator"');
    const other = await token(claims({ sub: "car-18" }));
    expect((await s.as("DELETE", `/dataflows/${id}`, other)).status).toBe(403);
    const consumer = await token(claims({ sub: "app-1", realm_access: { roles: ["consumer", "offline_access"] } }));
    expect((await s.as("GET", "/dataflows", consumer)).status).toBe(200);
    expect((await s.as("GET", "/metrics", consumer)).status).toBe(403);
    const noRole = await token(claims({ realm_access: { roles: ["uma_authorization"] } }));
    expect((await s.as("GET", "/openapi.json", noRole)).status).toBe(403);
    const operator = await token(claims({ sub: "ops", realm_access: { roles: ["operator"] } }));
    expect((await s.as("GET", "/metrics", operator)).status).toBe(200);
    expect((await s.as("DELETE", `/dataflows/${id}`, operator)).status).toBe(204);
  });

  test("wrong issuer, wrong audience, expired, wrong key, unknown kid, no exp, no sub, HS256: 401 with a one-line reason", async () => {
    const s = await setup();
    const cases: [string, Promise<string> | string][] = [
      ["JWT has the wrong issuer", token(claims({ iss: "https://evil.test/realms/mec" }))],
      ["JWT has the wrong audience", token(claims({ aud: "another-client" }))],
      ["JWT has the wrong audience", token(claims({ aud: undefined }))],
      ["JWT has expired", token(claims({ exp: now() - 10 }))],
      ["JWT signature does not verify", token(claims(), impostor.priv)],
      ["JWT is malformed or signed by an unknown key", token(claims(), k2.priv)],
      ["JWT has no exp claim", token(claims({ exp: undefined }))],
      ["JWT has no sub claim", token(claims({ sub: undefined }))],
      ["JWT header has no kid", sign(claims() as never, k1.priv as never, "RS256").then(withoutKid)],
      ["JWT algorithm is not allowed", sign(claims() as never, { kty: "oct", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQ", alg: "HS256", kid: "k1" } as never)],
      ["API token is not valid", "not-a-jwt-and-not-a-token"],
    ];
    for (const [reason, jwt] of cases) {
      const res = await s.as("GET", "/openapi.json", await jwt);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      const text = await res.text();
      expect(text).not.toContain("\n");
      expect(JSON.parse(text)).toEqual({ error: reason });
    }
  });

  test("the JWKS is fetched once for many requests, again for a new kid after the cooldown (rotation)", async () => {
    fetches = 0;
    published = [k1.pub];
    let clock = 1_000_000;
    const s = await setup({ now: () => clock, refreshCooldownMs: 30_000 });
    const jwt = await token(claims({ realm_access: { roles: ["consumer"] } }));
    for (let i = 0; i < 20; i++) expect((await s.as("GET", "/dataflows", jwt)).status).toBe(200);
    expect(fetches).toBe(1);
    published = [k1.pub, k2.pub];
    const rotated = await token(claims({ realm_access: { roles: ["consumer"] } }), k2.priv);
    expect((await s.as("GET", "/dataflows", rotated)).status).toBe(401); // within the cooldown of the first fetch
    expect(fetches).toBe(1);
    clock += 31_000;
    expect((await s.as("GET", "/dataflows", rotated)).status).toBe(200);
    expect((await s.as("GET", "/dataflows", rotated)).status).toBe(200);
    expect(fetches).toBe(2);
  });

  test("an issuer that never answered is 503 naming the JWKS URL; static tokens keep working beside OIDC", async () => {
    jwksUp = false;
    try {
      const s = await harness({
        tokens: ["operator:static-operator-token-0"],
        jwt: { jwksUrl: `http://127.0.0.1:${jwks.port}/certs`, issuer: ISSUER, audience: AUDIENCE, roleClaim: "realm_access.roles" },
      });
      const res = await s.json("GET", "/dataflows", undefined, { authorization: `Bearer ${await token(claims())}` });
      expect(res.status).toBe(503);
      expect((await res.json()).error).toBe(`JWKS "http://127.0.0.1:${jwks.port}/certs" could not be fetched`);
      expect((await s.json("GET", "/dataflows", undefined, { authorization: "Bearer static-operator-token-0" })).status).toBe(200);
    } finally {
      jwksUp = true;
    }
  });
});

/** The same token with a header that names no key (its signature no longer matters). */
function withoutKid(jwt: string): string {
  const [, payload, signature] = jwt.split(".");
  return [Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT" })).toString("base64url"), payload, signature].join(".");
}

describe("rolesFromClaim()", () => {
  test("reads a dotted path, an array or a space-separated string, and keeps only vsb roles", async () => {
    expect([...rolesFromClaim({ realm_access: { roles: ["sensor", "x"] } }, "realm_access.roles")]).toEqual(["sensor"]);
    expect([...rolesFromClaim({ roles: "consumer operator other" }, "roles")]).toEqual(["consumer", "operator"]);
    expect([...rolesFromClaim({ resource_access: { "vsb-proxy": { roles: ["operator"] } } }, "resource_access.vsb-proxy.roles")]).toEqual(["operator"]);
    expect(rolesFromClaim({ roles: 3 }, "roles").size).toBe(0);
    expect(rolesFromClaim({}, "realm_access.roles").size).toBe(0);
  });
});
