// Sends thousands of generated malformed requests to the registration API and checks that
// each gets a 4xx JSON error and that neither the store nor the registry changed.
import { describe, expect, test } from "bun:test";
import { DataflowMetadataSchema, DemandRequestSchema } from "../../shared/mod.ts";
import { harness } from "./harness.ts";
import { agentBody, sensor2022 } from "./sensor_body.ts";

type Case = { what: string; body: string | Uint8Array; type?: string };

/** Deterministic PRNG (mulberry32) so a failure can be reproduced. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const out: string[][] = prefix.length ? [prefix] : [];
  for (const [k, v] of Object.entries(value)) out.push(...leafPaths(v, [...prefix, k]));
  return out;
}

function withPath(base: unknown, path: string[], mutate: (parent: Record<string, unknown>, key: string) => void): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  mutate(node, path[path.length - 1]!);
  return copy;
}

const WRONG_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, "", "x", "NaN", "Infinity", "1e999", [], [1], {}, { a: 1 },
  "\u0000", "\ud800", "🚗🚗", "‮rtl", "0".repeat(40), -0.0000001, 2 ** 53 + 2];

/** Bodies that the schema itself rejects: wrong types, missing fields, huge strings. */
function schemaCases(base: unknown, schema: { safeParse(v: unknown): { success: boolean } }, label: string): Case[] {
  const cases: Case[] = [];
  const push = (what: string, value: unknown) => {
    if (!schema.safeParse(value).success) cases.push({ what: `${label}: ${what}`, body: JSON.stringify(value) });
  };
  for (const path of leafPaths(base)) {
    const name = path.join(".");
    for (const wrong of WRONG_VALUES) push(`${name} = ${JSON.stringify(wrong)}`, withPath(base, path, (p, k) => (p[k] = wrong)));
    push(`${name} missing`, withPath(base, path, (p, k) => delete p[k]));
    for (const size of [300, 20_000]) push(`${name} = ${size} chars`, withPath(base, path, (p, k) => (p[k] = "q".repeat(size))));
  }
  for (const top of [null, 0, "text", [], [base], true]) push(`top-level ${JSON.stringify(top)?.slice(0, 20)}`, top);
  return cases;
}

/** Bodies rejected before the schema: syntax, encoding, size, nesting, keys, content type. */
function transportCases(valid: unknown, label: string, random: () => number): Case[] {
  const text = JSON.stringify(valid);
  const cases: Case[] = [];
  for (let cut = 1; cut < text.length; cut += 3) cases.push({ what: `${label}: truncated at ${cut}`, body: text.slice(0, cut) });
  for (const literal of ["NaN", "Infinity", "-Infinity", "undefined", "0x10", "1e999999", "01", "+1", "'x'"]) {
    cases.push({ what: `${label}: literal ${literal}`, body: text.replace(/:(\d+(\.\d+)?)/, `:${literal}`) });
  }
  for (const key of ["__proto__", "constructor", "prototype"]) {
    cases.push({ what: `${label}: top-level ${key}`, body: `{"${key}":{"polluted":true},${text.slice(1)}` });
    cases.push({ what: `${label}: nested ${key}`, body: text.replace('{"', `{"${key}":{"isAdmin":true},"`).replace(/("dataInfo":\{)/, `$1"${key}":1,`) });
  }
  for (const depth of [40, 1000, 20_000]) {
    cases.push({ what: `${label}: array depth ${depth}`, body: "[".repeat(depth) + "]".repeat(depth) });
    cases.push({ what: `${label}: object depth ${depth}`, body: `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}` });
  }
  cases.push({ what: `${label}: deep extraAttributes`, body: text.replace(/\}$/, `,"x":${'{"a":'.repeat(40)}1${"}".repeat(40)}}`) });
  for (const size of [64 * 1024 + 1, 200_000, 1_000_000]) {
    cases.push({ what: `${label}: ${size} bytes`, body: `{"pad":"${"p".repeat(size)}",${text.slice(1)}` });
  }
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", "", "application/xml"]) {
    cases.push({ what: `${label}: content type "${type}"`, body: text, type });
  }
  cases.push({ what: `${label}: invalid UTF-8`, body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) });
  cases.push({ what: `${label}: UTF-16 BOM`, body: new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]) });
  for (let i = 0; i < 60; i++) {
    const bytes = new Uint8Array(1 + Math.floor(random() * 300));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    bytes[0] = 0x7b; // "{" so that it looks like JSON at first
    cases.push({ what: `${label}: random bytes #${i}`, body: bytes });
  }
  return cases;
}

describe("malformed-input sweep", () => {
  test("≥ 1,000 malformed requests each get a 4xx and change nothing", async () => {
    const { json, app, registry, store } = await harness();
    const reg = await (await json("POST", "/dataflows", sensor2022())).json();
    const lease = await (await json("POST", "/demands", { dataflowId: reg.id, ttlSeconds: 600 })).json();
    const random = rng(42);
    const metadataCases = [
      ...schemaCases(sensor2022(), DataflowMetadataSchema, "5gmeta"),
      ...schemaCases(agentBody(), DataflowMetadataSchema, "agent"),
      ...transportCases(sensor2022(), "metadata", random),
    ];
    const demandCases = [
      ...schemaCases({ dataflowId: reg.id, quadkey: "0313", dataType: "video", ttlSeconds: 30 }, DemandRequestSchema, "demand"),
      ...transportCases({ quadkey: "0313", ttlSeconds: 30 }, "demand", random),
    ];
    const targets: [string, string, Case[]][] = [
      ["POST", "/dataflows", metadataCases],
      ["PUT", `/dataflows/${reg.id}`, metadataCases.filter((c) => c.body.length > 0)],
      ["POST", "/demands", demandCases],
    ];
    const before = { db: store.dump(), flows: JSON.stringify(await registry.list()), demands: JSON.stringify(registry.listDemands()) };
    let sent = 0;
    const failures: string[] = [];
    for (const [method, path, cases] of targets) {
      for (const c of cases) {
        const res = await app.request(path, {
          method,
          headers: c.type === undefined ? { "content-type": "application/json" } : c.type ? { "content-type": c.type } : {},
          body: c.body as BodyInit,
        });
        sent++;
        const body = await res.text();
        let error: unknown;
        try {
          error = JSON.parse(body).error;
        } catch {
          /* reported below */
        }
        if (res.status < 400 || res.status > 499 || typeof error !== "string") {
          failures.push(`${method} ${path} ${c.what}: ${res.status} ${body.slice(0, 200)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(1000);
    expect(store.dump()).toBe(before.db);
    expect(JSON.stringify(await registry.list())).toBe(before.flows);
    expect(JSON.stringify(registry.listDemands())).toBe(before.demands);
    expect(lease.id).toBeString();
    console.log(`malformed sweep: ${sent} requests, all 4xx, store unchanged`);
  });
});
