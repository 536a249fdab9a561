/**
 * The README documents every flag and env var that exists, and nothing that does not:
 * each program's real `--help` output is compared with the README's option tables.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderReadme } from "../scripts/readme_options.ts";

const ROOT = join(import.meta.dir, "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const BUN = process.execPath;

function section(name: string): string {
  const m = README.match(new RegExp(`<!-- BEGIN ${name} -->\\n([\\s\\S]*?)<!-- END ${name} -->`));
  if (!m) throw new Error(`README.md has no ${name} section`);
  return m[1]!;
}

function help(entry: string): string {
  const r = spawnSync(BUN, [entry, "--help"], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  expect(r.status).toBe(0);
  return r.stdout;
}

/** Flags that head a line of --help ("  --flag ARG …") or a README table row ("| `--flag ARG` |"). */
const flags = (text: string) =>
  new Set([...text.matchAll(/^(?:\s+|\| `)(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1]!));
const envs = (text: string) => new Set(text.match(/\b(?:VSB_[A-Z0-9_]+|VIDEO_(?:SOURCE|PARAM|TTL)|AMQP_(?:USER|PASS|IP|PORT))\b/g) ?? []);

describe("README.md", () => {
  test("option tables are the ones the code generates", () => {
    expect(renderReadme(README)).toBe(README);
  });

  for (const [name, entry] of [["agent-options", "agent/main.ts"], ["proxy-options", "proxy/main.ts"], ["consume-options", "proxy/consume.ts"]] as const) {
    test(`${name}: every flag and env var of \`${entry} --help\` is documented, and nothing more`, () => {
      const text = help(entry);
      const table = section(name);
      expect([...flags(table)].sort()).toEqual([...flags(text)].sort());
      expect([...envs(table)].sort()).toEqual([...envs(text)].sort());
    }, 60_000);
  }
});

test("README.md's metrics table lists every series the real vsb-proxy exposes on /metrics, and nothing more", async () => {
  const { freePort } = await import("./support/ports.ts");
  const { spawnTracked } = await import("./support/procs.ts");
  const { waitForHttp } = await import("./support/wait.ts");
  const { tempDir } = await import("./support/temp_dir.ts");
  const port = await freePort();
  const proxy = spawnTracked(BUN, [join(ROOT, "proxy/main.ts"), "--listen", `127.0.0.1:${port}`, "--db", join(tempDir().path, "m.db"),
    "--amqp-url", `amqp://127.0.0.1:${await freePort()}`, "--log-level", "silent"], { name: "vsb-proxy" });
  try {
    const res = await waitForHttp(`http://127.0.0.1:${port}/metrics`, { timeoutMs: 15_000, proc: proxy });
    const exposed = new Set([...(await res.text()).matchAll(/^# HELP (vsb_\w+)/gm)].map((m) => m[1]!));
    const documented = new Set([...README.matchAll(/^\| `(vsb_\w+)` \|/gm)].map((m) => m[1]!));
    expect(exposed.size).toBeGreaterThan(20);
    expect([...exposed].filter((n) => !documented.has(n)).sort()).toEqual([]);
    expect([...documented].filter((n) => !exposed.has(n)).sort()).toEqual([]);
  } finally {
    await proxy.stop();
  }
}, 60_000);

test("README.md's frame header table names every header of shared/names.ts HEADER, and its AMQP 1.0 table every property", async () => {
  const { HEADER } = await import("../shared/mod.ts");
  const { AMQP10_TYPES } = await import("../proxy/bus/amqp10_app_properties.ts");
  const table = (head: string) => {
    const at = README.indexOf(head);
    expect(at).toBeGreaterThan(-1);
    const rows = README.slice(at).split("\n").slice(2);
    const body = rows.slice(0, rows.findIndex((l) => !l.startsWith("|")));
    return new Set(body.flatMap((row) => [...row.split("|")[1]!.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]!)));
  };
  const frames = table("| header | type | meaning |");
  expect(Object.values(HEADER).filter((name) => !frames.has(name)).sort()).toEqual([]);
  const amqp10 = table("| application property | AMQP 1.0 type | |");
  expect(Object.keys(AMQP10_TYPES).filter((name) => !amqp10.has(name)).sort()).toEqual([]);
});
