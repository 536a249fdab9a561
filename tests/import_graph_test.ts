// The import graph and runtime seams of CONVENTIONS.md, checked on every .ts file in
// agent/, proxy/ and shared/: agent/ and proxy/ never import each other (nor tests/); the
// contract in shared/ imports only zod and shared/ contract files, never shared/runtime/;
// shared/runtime/ (plumbing both programs share) imports only zod, `node:` modules and shared/;
// agent/ and proxy/ may import both; `Deno.*` only in agent/runtime.ts; `Bun.*`/`bun:*` only
// in proxy/runtime.ts and proxy/store/. The folders of proxy/ import one way (issue #13): no
// folder reaches itself through another (proxy/*.ts, the root and leaf utilities, exempt).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const DIRS = ["agent", "proxy", "shared"] as const;

/** Every .ts file under `dir` (relative to the repo, with "/" separators). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(join(root, dir));
  } catch {
    return out; // the directory does not exist yet
  }
  for (const entry of entries) {
    const path = `${dir}/${entry}`;
    if (statSync(join(root, path)).isDirectory()) out.push(...tsFiles(path));
    else if (/\.(ts|tsx|mts)$/.test(entry) && !entry.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** `source` with comments blanked out, and string contents too when `blankStrings`. */
function stripComments(source: string, blankStrings = false): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === "\\" ? 2 : 1;
      const literal = source.slice(i, j + 1);
      out += blankStrings ? c + " ".repeat(Math.max(0, literal.length - 2)) + c : literal;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The module specifiers `code` imports or re-exports, static or dynamic. */
function importSpecifiers(code: string): string[] {
  const patterns = [
    /\bimport\s+(?:type\s+)?[^'"`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bexport\s+(?:type\s+)?(?:\*|\{[^}]*\})\s*(?:as\s+\w+\s*)?from\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["'`]([^"'`]+)["'`]\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  return patterns.flatMap((re) => [...code.matchAll(re)].map((m) => m[1]!));
}

/** What is wrong with `file` (repo-relative) whose text is `source`; empty when it keeps the rules. */
function violations(file: string, source: string): string[] {
  const code = stripComments(source);
  const area = file.split("/")[0]!;
  const problems: string[] = [];
  for (const spec of importSpecifiers(code)) {
    const target = spec.startsWith(".") ? relative(root, resolve(root, dirname(file), spec)).split(sep).join("/") : undefined;
    const targetArea = target?.split("/")[0];
    if (target?.startsWith("..")) problems.push(`imports "${spec}" from outside the repository`);
    if (area === "agent" && targetArea === "proxy") problems.push(`agent imports proxy: "${spec}"`);
    if (area === "proxy" && targetArea === "agent") problems.push(`proxy imports agent: "${spec}"`);
    if (targetArea === "tests") problems.push(`imports test code: "${spec}"`);
    problems.push(...sharedProblems(file, spec, target));
    if (spec.startsWith("bun:") && !bunAllowed(file)) problems.push(`imports "${spec}" outside proxy/runtime.ts and proxy/store/`);
  }
  // Any reference counts (Deno.env, globalThis.Deno, typeof Bun), but not words in strings.
  const bare = stripComments(source, true);
  if (/(?<![\w$])Deno(?![\w$])/.test(bare) && file !== "agent/runtime.ts") problems.push("uses Deno outside agent/runtime.ts");
  if (/(?<![\w$])Bun(?![\w$])/.test(bare) && !bunAllowed(file)) problems.push("uses Bun outside proxy/runtime.ts and proxy/store/");
  return problems;
}

/** What the shared/ rules say of `file` importing `spec` (resolved to `target` when relative). */
function sharedProblems(file: string, spec: string, target: string | undefined): string[] {
  if (!file.startsWith("shared/")) return [];
  const zod = spec === "zod" || spec.startsWith("zod/");
  if (isSharedRuntime(file)) {
    if (target ? target.startsWith("shared/") : zod || spec.startsWith("node:")) return [];
    return [`shared/runtime imports "${spec}" (only zod, node: and shared/ allowed)`];
  }
  if (target && isSharedRuntime(target)) return [`the shared contract imports shared/runtime: "${spec}"`];
  if (target ? target.startsWith("shared/") : zod) return [];
  return [`shared imports "${spec}" (only zod and shared/ allowed)`];
}

function isSharedRuntime(file: string): boolean {
  return file.startsWith("shared/runtime/");
}

function bunAllowed(file: string): boolean {
  return file === "proxy/runtime.ts" || file.startsWith("proxy/store/");
}

/** The proxy/ subfolder of `file` ("ingest" for proxy/ingest/x.ts); undefined for proxy/*.ts and other areas. */
function proxyFolder(file: string): string | undefined {
  const parts = file.split("/");
  return parts[0] === "proxy" && parts.length > 2 ? parts[1] : undefined;
}

/**
 * One line per folder cycle among proxy/'s subfolders in `sources` (repo-relative file → text):
 * the folders around the cycle and, for each step, one file that imports the next folder.
 */
function folderCycles(sources: ReadonlyMap<string, string>): string[] {
  const edges = new Map<string, Map<string, string>>(); // folder → folder → "a/x.ts → b/y.ts"
  for (const [file, source] of sources) {
    const from = proxyFolder(file);
    if (!from) continue;
    for (const spec of importSpecifiers(stripComments(source))) {
      if (!spec.startsWith(".")) continue;
      const target = relative(root, resolve(root, dirname(file), spec)).split(sep).join("/");
      const to = proxyFolder(target);
      if (!to || to === from) continue;
      const out = edges.get(from) ?? new Map<string, string>();
      edges.set(from, out);
      if (!out.has(to)) out.set(to, `${file.slice(6)} → ${target.slice(6)}`);
    }
  }
  const found: string[] = [];
  const seen = new Set<string>(); // each cycle once, whichever folder it was found from
  const walk = (path: string[]): void => {
    for (const next of [...(edges.get(path.at(-1)!)?.keys() ?? [])].sort()) {
      if (next === path[0]) {
        const key = [...path].sort().join(",");
        if (seen.has(key)) continue;
        seen.add(key);
        const steps = path.map((f, i) => edges.get(f)!.get(path[i + 1] ?? path[0]!)!);
        found.push(`proxy folder cycle ${[...path, path[0]].join(" → ")} (${steps.join("; ")})`);
      } else if (!path.includes(next) && next > path[0]!) {
        walk([...path, next]);
      }
    }
  };
  for (const folder of [...edges.keys()].sort()) walk([folder]);
  return found;
}

describe("violations() (the checker itself)", () => {
  test("flags agent → proxy and proxy → agent imports, static and dynamic", () => {
    expect(violations("agent/push/x.ts", 'import { a } from "../../proxy/api/app.ts";')).toHaveLength(1);
    expect(violations("proxy/x.ts", 'const m = await import("../agent/flow.ts");')).toHaveLength(1);
    expect(violations("proxy/x.ts", 'export * from "../agent/flow.ts";')).toHaveLength(1);
    expect(violations("agent/x.ts", 'import { z } from "../shared/mod.ts";')).toEqual([]);
  });

  test("flags shared/ importing anything but zod and shared/", () => {
    expect(violations("shared/a.ts", 'import { z } from "zod";\nimport { b } from "./b.ts";')).toEqual([]);
    expect(violations("shared/a.ts", 'import { readFileSync } from "node:fs";')).toHaveLength(1);
    expect(violations("shared/a.ts", 'import type { X } from "../proxy/x.ts";')).toHaveLength(1);
  });

  test("lets shared/runtime/ import zod, node: and shared/, nothing else", () => {
    const ok = 'import { z } from "zod";\nimport { spawn } from "node:child_process";\nimport { maskUrl } from "../mask_url.ts";\nimport { b } from "./b.ts";';
    expect(violations("shared/runtime/a.ts", ok)).toEqual([]);
    expect(violations("shared/runtime/a.ts", 'import { x } from "../../agent/runtime.ts";')).toHaveLength(1);
    expect(violations("shared/runtime/a.ts", 'import { x } from "../../proxy/log.ts";')).toHaveLength(1);
    expect(violations("shared/runtime/a.ts", 'import { Hono } from "hono";')).toHaveLength(1);
    expect(violations("shared/runtime/a.ts", 'import { Database } from "bun:sqlite";')).toHaveLength(2);
    expect(violations("shared/runtime/a.ts", "const e = Deno.env.get('X');")).toHaveLength(1);
    expect(violations("shared/runtime/a.ts", "Bun.spawn(['true']);")).toHaveLength(1);
  });

  test("flags the shared contract importing shared/runtime/, static or re-exported", () => {
    expect(violations("shared/mod.ts", 'export * from "./runtime/watchdog.ts";')).toHaveLength(1);
    expect(violations("shared/names.ts", 'import { x } from "./runtime/json_log.ts";')).toHaveLength(1);
    expect(violations("shared/names.ts", 'import { x } from "./quadkey.ts";')).toEqual([]);
  });

  test("lets agent/ and proxy/ import shared/runtime/", () => {
    expect(violations("agent/main.ts", 'import { startWatchdog } from "../shared/runtime/watchdog.ts";')).toEqual([]);
    expect(violations("proxy/webrtc/x.ts", 'import { keepCandidates } from "../../shared/runtime/sdp_candidates.ts";')).toEqual([]);
  });

  test("flags Deno.* and Bun.*/bun: outside their runtime files, ignoring comments", () => {
    expect(violations("agent/flow.ts", "const e = Deno.env.get('X');")).toHaveLength(1);
    expect(violations("agent/runtime.ts", "const e = Deno.env.get('X');")).toEqual([]);
    expect(violations("agent/flow.ts", "// Deno.exit is not used here\n/* Bun.spawn either */")).toEqual([]);
    expect(violations("proxy/api/app.ts", 'import { Database } from "bun:sqlite";')).toHaveLength(1);
    expect(violations("proxy/store/sqlite.ts", 'import { Database } from "bun:sqlite";\nBun.hash("x");')).toEqual([]);
    expect(violations("proxy/main.ts", "Bun.serve({ fetch });")).toHaveLength(1);
    expect(violations("proxy/main.ts", 'const url = "http://example/"; // Bun.serve')).toEqual([]);
    expect(violations("agent/flow.ts", "const deno = (globalThis as any).Deno;")).toHaveLength(1);
    expect(violations("proxy/x.ts", 'if (typeof Bun !== "undefined") {}')).toHaveLength(1);
    expect(violations("agent/flow.ts", 'log.info("runs on Deno and Bun.");')).toEqual([]);
  });

  test("flags product code importing tests/", () => {
    expect(violations("proxy/x.ts", 'import { getRabbit } from "../tests/support/rabbitmq.ts";')).toHaveLength(1);
  });
});

describe("folderCycles() (the checker itself)", () => {
  test("flags two proxy/ folders that import each other, naming the folders and the files", () => {
    const sources = new Map([
      ["proxy/a/x.ts", 'import type { Y } from "../b/y.ts";'],
      ["proxy/b/y.ts", 'export { x } from "../a/x.ts";'],
    ]);
    expect(folderCycles(sources)).toEqual(["proxy folder cycle a → b → a (a/x.ts → b/y.ts; b/y.ts → a/x.ts)"]);
  });

  test("flags a cycle through three folders once, and none when the imports go one way", () => {
    const cycle = new Map([
      ["proxy/a/x.ts", 'import { y } from "../b/y.ts";'],
      ["proxy/b/y.ts", 'const z = await import("../c/z.ts");'],
      ["proxy/c/z.ts", 'import { x } from "../a/x.ts";'],
    ]);
    expect(folderCycles(cycle)).toEqual(["proxy folder cycle a → b → c → a (a/x.ts → b/y.ts; b/y.ts → c/z.ts; c/z.ts → a/x.ts)"]);
    const oneWay = new Map([...cycle, ["proxy/c/z.ts", 'import { w } from "./w.ts";']]);
    expect(folderCycles(oneWay)).toEqual([]);
  });

  test("exempts proxy/*.ts and ignores comments and other areas", () => {
    const sources = new Map([
      ["proxy/a/x.ts", 'import { logger } from "../log.ts";\n// import { y } from "../b/y.ts";'],
      ["proxy/log.ts", 'import { x } from "./a/x.ts";'],
      ["proxy/b/y.ts", 'import { x } from "../a/x.ts";\nimport { m } from "../../shared/mod.ts";'],
    ]);
    expect(folderCycles(sources)).toEqual([]);
  });
});

describe("the repository", () => {
  const files = DIRS.flatMap(tsFiles);

  test("agent/, proxy/ and shared/ keep the import and runtime rules", () => {
    const found = files.flatMap((file) => violations(file, readFileSync(join(root, file), "utf8")).map((p) => `${file}: ${p}`));
    expect(found).toEqual([]);
  });

  test("proxy/'s folders import one way: no folder cycle", () => {
    const proxy = files.filter((file) => file.startsWith("proxy/"));
    expect(proxy.length).toBeGreaterThan(0);
    expect(folderCycles(new Map(proxy.map((file) => [file, readFileSync(join(root, file), "utf8")])))).toEqual([]);
  });

  test("shared/runtime/ holds the shared plumbing", () => {
    expect(tsFiles("shared/runtime").length).toBeGreaterThan(0);
  });

  test("shared/mod.ts exists and re-exports only shared/ files", () => {
    const mod = readFileSync(join(root, "shared/mod.ts"), "utf8");
    expect(violations("shared/mod.ts", mod)).toEqual([]);
    expect(importSpecifiers(stripComments(mod)).length).toBeGreaterThan(0);
  });
});
