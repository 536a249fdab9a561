/** `--help` text and the README's option table, both generated from the one option table. */
import { INFO_FLAGS, OPTIONS, type OptionSpec } from "./options.ts";

const SUMMARY = `vsb-proxy: the MEC side of vsb (video stream broker). Registers sensors' video
dataflows, decides when they send, takes their WebRTC (WHIP) streams and publishes one
RabbitMQ message per H.264 frame.

Usage: bun proxy/main.ts [options]

Each option may also come from its VSB_* env var or from a --config JSON file (by key);
flags override env, env overrides the file, the file overrides defaults.`;

function defaultText(spec: OptionSpec): string {
  if (spec.default === undefined) return "";
  return spec.default === "" ? " [none]" : ` [${spec.default}]`;
}

/** The text `--help` prints. */
export function helpText(): string {
  const lines = [SUMMARY, "", "Options:"];
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const repeat = spec.repeatable ? " (repeatable)" : "";
    lines.push(`  ${spec.flag}${spec.arg ? ` ${spec.arg}` : ""}${repeat}`);
    lines.push(`      ${spec.help}${defaultText(spec)}`);
    lines.push(`      env ${spec.env}, config key "${spec.key}"`);
  }
  for (const info of Object.values(INFO_FLAGS)) lines.push(`  ${info.flag}`, `      ${info.help}`);
  return `${lines.join("\n")}\n`;
}

/** The option reference as a Markdown table (what the README must contain). */
export function optionsMarkdown(): string {
  const rows = ["| Flag | Env | Config key | Default | Meaning |", "|---|---|---|---|---|"];
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const flag = `\`${spec.flag}${spec.arg ? ` ${spec.arg.replace(/\|/g, "\\|")}` : ""}\`${spec.repeatable ? " (repeatable)" : ""}`;
    const def = spec.default === undefined ? "" : spec.default === "" ? "none" : `\`${spec.default}\``;
    rows.push(`| ${flag} | \`${spec.env}\` | \`${spec.key}\` | ${def} | ${spec.help.replace(/\|/g, "\\|")} |`);
  }
  for (const info of Object.values(INFO_FLAGS)) rows.push(`| \`${info.flag}\` | | | | ${info.help} |`);
  return `${rows.join("\n")}\n`;
}
