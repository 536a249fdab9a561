/** `--help`, generated from the options table so it lists exactly what exists. */
import { OPTION_KEYS, OPTIONS, type OptionSpec } from "./options.ts";

/** The full `--help` text. */
export function helpText(version: string): string {
  const lines = [
    `vsb-agent ${version}: captures H.264, registers it with a MEC and pushes it over WebRTC (WHIP) while a consumer wants it.`,
    "",
    "Usage: vsb-agent --source SPEC (--lat DEG --lon DEG | --position-file FILE) (--discovery-url URL | --registration-url URL) [options]",
    "",
    "Precedence: flags > env > --config FILE > defaults. Boolean flags take no value (or --flag=false).",
  ];
  let group = "";
  for (const key of OPTION_KEYS) {
    const spec = OPTIONS[key] as OptionSpec;
    if (spec.group !== group) {
      group = spec.group;
      lines.push("", `${group}:`);
    }
    const flag = spec.arg ? `${spec.flag} ${spec.arg}` : spec.flag;
    const env = spec.env.length > 0 ? `  [env ${spec.env.join(", ")}]` : "";
    const def = spec.defaultText ? ` (default ${spec.defaultText})` : "";
    lines.push(`  ${flag.padEnd(28)} ${spec.help}${def}${env}`);
  }
  lines.push("", "Exit codes: 0 done, 1 failed, 2 bad configuration.");
  return `${lines.join("\n")}\n`;
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** The options as a Markdown table: flag, env, config key, default, meaning. */
export function optionsMarkdown(): string {
  const rows = ["| Flag | Env | Config key | Default | Meaning |", "|---|---|---|---|---|"];
  for (const key of OPTION_KEYS) {
    const spec = OPTIONS[key] as OptionSpec;
    const flag = spec.arg ? `${spec.flag} ${spec.arg}` : spec.flag;
    const env = spec.env.map((e) => `\`${e}\``).join(", ");
    const fileKey = spec.inFile === false ? "" : `\`${key}\``;
    rows.push(`| \`${cell(flag)}\` | ${env} | ${fileKey} | ${cell(spec.defaultText ?? "")} | ${cell(spec.help)} |`);
  }
  return `${rows.join("\n")}\n`;
}
