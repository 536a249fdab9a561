/**
 * Rewrites the option tables in README.md from the programs' own option tables, so the
 * reference cannot drift from the code: `bun scripts/readme_options.ts` (or `--check`,
 * which exits 1 when README.md is out of date). tests/readme_test.ts runs the check.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { optionsMarkdown as agentOptions } from "../agent/config/help_text.ts";
import { consumeOptionsMarkdown } from "../proxy/consumer/consume_options.ts";
import { optionsMarkdown as proxyOptions } from "../proxy/config/help.ts";

/** Each generated section: the marker name in README.md and its content. */
export const SECTIONS: Record<string, () => string> = {
  "agent-options": agentOptions,
  "proxy-options": proxyOptions,
  "consume-options": consumeOptionsMarkdown,
};

/** README text with every marked section replaced by its generated table. */
export function renderReadme(text: string): string {
  let out = text;
  for (const [name, make] of Object.entries(SECTIONS)) {
    const re = new RegExp(`(<!-- BEGIN ${name} -->\\n)[\\s\\S]*?(<!-- END ${name} -->)`);
    if (!re.test(out)) throw new Error(`README.md has no "<!-- BEGIN ${name} -->" … "<!-- END ${name} -->" section`);
    out = out.replace(re, (_m, begin: string, end: string) => `${begin}${make()}${end}`);
  }
  return out;
}

if (import.meta.main) {
  const path = join(import.meta.dir, "..", "README.md");
  const text = readFileSync(path, "utf8");
  const next = renderReadme(text);
  if (process.argv.includes("--check")) {
    if (next !== text) {
      process.stderr.write("README.md option tables are out of date: run bun scripts/readme_options.ts\n");
      process.exit(1);
    }
  } else if (next !== text) {
    writeFileSync(path, next);
    process.stderr.write("README.md option tables updated\n");
  }
}
