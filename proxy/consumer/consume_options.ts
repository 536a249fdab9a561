/**
 * Options of `vsb-consume`, parsed once at the edge: defaults → env (`VSB_*`) → flags.
 * One table drives parsing and `--help`, so the help cannot drift from the code.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { maskUrl } from "../../shared/mod.ts";

/** One option: flag name, env name, help text and default (shown in --help). */
interface OptionSpec {
  flag: string;
  env?: string;
  arg?: string;
  help: string;
  def?: string;
  boolean?: boolean;
}

/** Every option of vsb-consume, in --help order. */
export const CONSUME_OPTIONS: OptionSpec[] = [
  { flag: "dataflow", env: "VSB_DATAFLOW", arg: "ID", help: "watch this dataflow" },
  { flag: "quadkey", env: "VSB_QUADKEY", arg: "PREFIX", help: "watch every dataflow whose zoom-25 quadkey starts with PREFIX" },
  { flag: "api-url", env: "VSB_API_URL", arg: "URL", help: "registration API of the proxy (for the demand lease)", def: "http://127.0.0.1:8080" },
  { flag: "api-ca-file", env: "VSB_API_CA_FILE", arg: "FILE", help: "PEM CA certificate(s) an https:// --api-url must chain to (instead of the system CAs)" },
  { flag: "api-token", env: "VSB_API_TOKEN", arg: "TOKEN", help: "bearer token for the API (a consumer or operator token) when the proxy requires one" },
  { flag: "amqp-url", env: "VSB_AMQP_URL", arg: "URL", help: "RabbitMQ to read frames from; the nodes of a cluster as a comma list: when one is lost, it goes on on the next from each dataflow's next keyframe", def: "amqp://guest:guest@127.0.0.1:5672" },
  { flag: "amqp-ca-file", env: "VSB_AMQP_CA_FILE", arg: "FILE", help: "PEM CA certificate(s) an amqps:// broker's certificate must chain to (instead of the system CAs)" },
  { flag: "out", env: "VSB_OUT", arg: "FILE", help: "write Annex-B H.264 here, from each dataflow's first keyframe ({id} in the name gives one file per dataflow; - for stdout, which must then not be a terminal). Without it frames are written nowhere: statistics only" },
  { flag: "frames", arg: "N", help: "stop after N frames written (frames before the first keyframe do not count)" },
  { flag: "seconds", arg: "S", help: "stop after S seconds" },
  { flag: "lease-seconds", env: "VSB_LEASE_SECONDS", arg: "S", help: "TTL of the demand lease, renewed every third of it", def: "10" },
  { flag: "no-demand", help: "take no demand lease: only watch what others asked for", boolean: true },
  { flag: "json", help: "print the per-second statistics as JSON lines", boolean: true },
  { flag: "quiet", help: "print no per-second statistics", boolean: true },
  { flag: "help", help: "show this help", boolean: true },
];

const positiveInt = z.coerce.number({ error: "must be a whole number above 0" }).int({ error: "must be a whole number above 0" }).positive({ error: "must be a whole number above 0" });

const ConsumeOptionsSchema = z
  .object({
    dataflow: positiveInt.optional(),
    quadkey: z.string().regex(/^[0-3]{1,25}$/, "must be 1 to 25 digits 0-3").optional(),
    apiUrl: z.url(),
    apiCaFile: z.string().min(1).optional(),
    apiToken: z.string().min(1).optional(),
    amqpUrl: z.string().transform((v) => v.split(",").map((u) => u.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^amqps?:\/\//, "must start with amqp:// or amqps://")).min(1, "needs a URL")),
    amqpCaFile: z.string().min(1).optional(),
    out: z.string().min(1).optional(),
    frames: positiveInt.optional(),
    seconds: z.coerce.number().positive().optional(),
    leaseSeconds: z.coerce.number().int().min(3).max(3600),
    noDemand: z.boolean(),
    json: z.boolean(),
    quiet: z.boolean(),
  })
  .refine((o) => (o.dataflow === undefined) !== (o.quadkey === undefined), {
    message: "give exactly one of --dataflow ID or --quadkey PREFIX",
    path: ["dataflow"],
  });

/** Validated options of vsb-consume. */
export type ConsumeOptions = z.infer<typeof ConsumeOptionsSchema>;

/** Raised for a bad command line; main prints its one-line message and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The --help text, generated from {@link CONSUME_OPTIONS}. */
export function consumeHelp(): string {
  const lines = [
    "vsb-consume: read the frames of dataflows from RabbitMQ while holding a demand lease on the proxy.",
    "",
    "usage: vsb-consume (--dataflow ID | --quadkey PREFIX) [options]",
    "",
    "options (flag, environment variable, default):",
  ];
  for (const o of CONSUME_OPTIONS) {
    const left = `  --${o.flag}${o.arg ? ` ${o.arg}` : ""}`.padEnd(26);
    const extra = [o.env ? `env ${o.env}` : "", o.def ? `default ${o.def}` : ""].filter(Boolean).join(", ");
    lines.push(`${left}${o.help}${extra ? ` (${extra})` : ""}`);
  }
  lines.push(
    "",
    "Statistics go to stderr every second (stdout, a pipe or a terminal alike): frames, bitrate, sequence gaps, latency since the proxy received the frame.",
    "Stdout carries video only with --out -, e.g. vsb-consume --dataflow 1 --out - | ffplay -f h264 -",
  );
  return lines.join("\n");
}

/** Parses argv and env into options; `null` when --help was asked. Throws UsageError. */
export function parseConsumeOptions(argv: string[], env: Record<string, string | undefined>): ConsumeOptions | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(CONSUME_OPTIONS.map((o) => [o.flag, { type: o.boolean ? "boolean" : "string" } as const]));
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]!.replace(/\.$/, ""));
  }
  if (values.help) return null;
  const raw: Record<string, unknown> = {};
  for (const o of CONSUME_OPTIONS) {
    if (o.flag === "help") continue;
    const value = values[o.flag] ?? (o.env ? env[o.env] : undefined) ?? o.def;
    raw[camel(o.flag)] = o.boolean ? value === true || value === "true" || value === "1" : value;
  }
  const parsed = ConsumeOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? "dataflow");
    const spec = CONSUME_OPTIONS.find((o) => camel(o.flag) === key);
    const shown = raw[key] === undefined ? "" : ` "${maskUrl(String(raw[key]))}"`;
    throw new UsageError(`--${spec?.flag ?? key}${shown}: ${issue.message}`);
  }
  return parsed.data;
}

/** The options as a Markdown table (the README's reference for vsb-consume). */
export function consumeOptionsMarkdown(): string {
  const rows = ["| Flag | Env | Default | Meaning |", "|---|---|---|---|"];
  for (const o of CONSUME_OPTIONS) {
    const flag = `\`--${o.flag}${o.arg ? ` ${o.arg}` : ""}\``;
    rows.push(`| ${flag} | ${o.env ? `\`${o.env}\`` : ""} | ${o.def ? `\`${o.def}\`` : ""} | ${o.help.replaceAll("|", "\\|")} |`);
  }
  return `${rows.join("\n")}\n`;
}
