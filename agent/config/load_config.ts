/**
 * Loads the agent's configuration in one fixed order — defaults → `--config FILE` (JSON) →
 * environment (`VSB_*`, then the 5GMETA names) → flags — and validates every value with the
 * zod schema from the options table. An error is one line that names the flag, env variable
 * or config-file key the bad value came from.
 */
import { maskUrl } from "../../shared/mod.ts";
import { type PemKind, readPem as checkPem } from "../../shared/runtime/read_pem.ts";
import { sourceFromLegacy } from "../capture/source_spec.ts";
import { type AgentConfig, OPTION_KEYS, OPTIONS, type OptionKey, type OptionSpec } from "./options.ts";

/** A bad configuration value; its message is the one line shown to the user (exit code 2). */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** What the loader reads; injected so tests need no files or process state. */
export interface ConfigInputs {
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  readFile: (path: string) => string;
}

interface Raw {
  value: unknown;
  origin: string;
}

/** The IANA-registered MQTT port (1883/tcp), used for a broker named by AMQP_IP. */
const MQTT_PORT = 1883;

const FLAG_TO_KEY = new Map<string, OptionKey>(OPTION_KEYS.map((k) => [OPTIONS[k].flag, k]));

function fromText(spec: OptionSpec, text: string, origin: string): unknown {
  switch (spec.kind) {
    case "string":
      return text;
    case "list":
      return text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    case "boolean": {
      const t = text.trim().toLowerCase();
      if (["1", "true", "yes", "on", ""].includes(t)) return true;
      if (["0", "false", "no", "off"].includes(t)) return false;
      throw new ConfigError(`invalid ${origin} "${text}": must be true or false`);
    }
    case "number": {
      const t = text.trim();
      if (t === "" || !Number.isFinite(Number(t))) throw new ConfigError(`invalid ${origin} "${text}": must be a number`);
      return Number(t);
    }
  }
}

/** Parses flags (`--name value`, `--name=value`, bare booleans, repeatable lists). */
export function parseFlags(args: readonly string[]): Map<OptionKey, Raw> {
  const out = new Map<OptionKey, Raw>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAG_TO_KEY.get(name);
    if (!key) {
      throw new ConfigError(arg.startsWith("-") ? `unknown flag "${name}" (see --help)` : `unexpected argument "${arg}" (see --help)`);
    }
    const spec = OPTIONS[key] as OptionSpec;
    let text: string;
    if (eq > 0 && name !== arg) text = arg.slice(eq + 1);
    else if (spec.kind === "boolean") text = "true";
    else if (i + 1 < args.length) text = args[++i]!;
    else throw new ConfigError(`flag ${name} needs a value ${spec.arg ?? ""}`.trimEnd());
    const value = fromText(spec, text, name);
    const previous = out.get(key);
    if (spec.kind === "list" && previous) (previous.value as unknown[]).push(...(value as unknown[]));
    else out.set(key, { value, origin: name });
  }
  return out;
}

/** Reads `VSB_*` variables, then (with lower precedence) the 5GMETA names. */
export function readEnv(env: Readonly<Record<string, string>>): Map<OptionKey, Raw> {
  const out = new Map<OptionKey, Raw>();
  for (const key of OPTION_KEYS) {
    const spec = OPTIONS[key] as OptionSpec;
    const name = spec.env.find((n) => env[n] !== undefined && env[n] !== "");
    if (name) out.set(key, { value: fromText(spec, env[name]!, `env ${name}`), origin: `env ${name}` });
  }
  if (!out.has("source") && env.VIDEO_SOURCE) {
    out.set("source", { value: sourceFromLegacy(env.VIDEO_SOURCE, env.VIDEO_PARAM), origin: "env VIDEO_SOURCE" });
  }
  if (!out.has("mqttUrl") && env.AMQP_IP) {
    // 5GMETA's AMQP_PORT is the broker's AMQP port; the agent speaks MQTT, on MQTT's port.
    const host = env.AMQP_IP.includes(":") && !env.AMQP_IP.startsWith("[") ? `[${env.AMQP_IP}]` : env.AMQP_IP;
    out.set("mqttUrl", { value: [`mqtt://${host}:${MQTT_PORT}`], origin: "env AMQP_IP" });
  }
  return out;
}

/** A variable that is read from the environment on purpose and then not used. */
export interface IgnoredEnv {
  name: string;
  value: string;
  reason: string;
}

/** The 5GMETA variables the agent accepts but does not use, for one warning each at start. */
export function ignoredEnv(env: Readonly<Record<string, string>>): IgnoredEnv[] {
  if (env.AMQP_PORT === undefined || env.AMQP_PORT === "") return [];
  return [{
    name: "AMQP_PORT",
    value: env.AMQP_PORT,
    reason: `the agent speaks MQTT, not AMQP: AMQP_IP gives the MQTT host on port ${MQTT_PORT}; set --mqtt-url for another port`,
  }];
}

/** Reads a JSON config file whose keys are option keys. */
export function readConfigFile(path: string, read: (path: string) => string): Map<OptionKey, Raw> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(read(path));
  } catch (error) {
    throw new ConfigError(`config file "${path}" could not be read as JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(`config file "${path}" must hold a JSON object`);
  }
  const out = new Map<OptionKey, Raw>();
  for (const [key, value] of Object.entries(parsed)) {
    const spec = (OPTIONS as Record<string, OptionSpec>)[key];
    if (!spec || spec.inFile === false) throw new ConfigError(`config file "${path}": unknown key "${key}"`);
    const origin = `config key "${key}" in "${path}"`;
    const v = typeof value === "string" && spec.kind !== "string" ? fromText(spec, value, origin) : value;
    out.set(key as OptionKey, { value: v, origin });
  }
  return out;
}

/** A value as an error message shows it: a URL password masked. */
function describe(value: unknown): string {
  return maskUrl(typeof value === "string" ? value : JSON.stringify(value) ?? "undefined");
}

/** Loads and validates the configuration; throws a ConfigError with one line on bad input. */
export function loadConfig(inputs: ConfigInputs): AgentConfig {
  const flags = parseFlags(inputs.args);
  const env = readEnv(inputs.env);
  const configPath = (flags.get("config") ?? env.get("config"))?.value as string | undefined;
  const file = configPath ? readConfigFile(configPath, inputs.readFile) : new Map<OptionKey, Raw>();
  const merged = new Map<OptionKey, Raw>([...file, ...env, ...flags]);
  const config: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const raw = merged.get(key);
    const result = OPTIONS[key].schema.safeParse(raw?.value);
    if (!result.success) {
      const issue = result.error.issues[0];
      const message = issue?.message ?? "is invalid";
      const where = raw?.origin ?? OPTIONS[key].flag;
      // In a list, the item that is wrong (e.g. one of several --mqtt-url).
      const item = Array.isArray(raw?.value) && typeof issue?.path[0] === "number" ? (raw!.value as unknown[])[issue.path[0]] : raw?.value;
      throw new ConfigError(`invalid ${where} "${describe(item)}": ${maskUrl(message)}`);
    }
    config[key] = result.data;
  }
  return checkCombinations(withMqttFiles(withTokenFile(config as AgentConfig, inputs.readFile), inputs.readFile));
}

/** `--api-token-file`: the token is the file's content, trimmed (a trailing newline is usual). */
function withTokenFile(config: AgentConfig, read: (path: string) => string): AgentConfig {
  const path = config.apiTokenFile;
  if (path === undefined) return config;
  if (config.apiToken !== undefined) throw new ConfigError("give --api-token or --api-token-file, not both");
  let token: string;
  try {
    token = read(path).trim();
  } catch (error) {
    throw new ConfigError(`--api-token-file "${path}" could not be read: ${(error as Error).message}`);
  }
  if (token === "" || /\s/.test(token)) throw new ConfigError(`--api-token-file "${path}" must hold one token (no spaces), not ${token === "" ? "nothing" : "several words"}`);
  return { ...config, apiToken: token };
}

/** `--mqtt-password-file` becomes the password; the CA, certificate and key files must be readable PEM. */
function withMqttFiles(config: AgentConfig, read: (path: string) => string): AgentConfig {
  let out = config;
  if (config.mqttPasswordFile !== undefined) {
    if (config.mqttPassword !== undefined) throw new ConfigError("give --mqtt-password or --mqtt-password-file, not both");
    let password: string;
    try {
      password = read(config.mqttPasswordFile).trim();
    } catch (error) {
      throw new ConfigError(`--mqtt-password-file "${config.mqttPasswordFile}" could not be read: ${(error as Error).message}`);
    }
    if (password === "") throw new ConfigError(`--mqtt-password-file "${config.mqttPasswordFile}" is empty`);
    out = { ...out, mqttPassword: password };
  }
  if (config.mqttCaFile !== undefined) readPem("--mqtt-ca-file", config.mqttCaFile, "CERTIFICATE", read);
  if (config.proxyCaFile !== undefined) readPem("--proxy-ca-file", config.proxyCaFile, "CERTIFICATE", read);
  if ((config.mqttCertFile === undefined) !== (config.mqttKeyFile === undefined)) throw new ConfigError("--mqtt-cert-file and --mqtt-key-file must be given together");
  if (config.mqttCertFile !== undefined) readPem("--mqtt-cert-file", config.mqttCertFile, "CERTIFICATE", read);
  if (config.mqttKeyFile !== undefined) readPem("--mqtt-key-file", config.mqttKeyFile, "PRIVATE KEY", read);
  return out;
}

/** Checks that `path` is readable and holds a PEM block of `kind`; one line naming the flag and file if not. */
function readPem(flag: string, path: string, kind: PemKind, read: (path: string) => string): void {
  checkPem(flag, path, { kind, read, error: (message) => new ConfigError(message) });
}

function checkCombinations(config: AgentConfig): AgentConfig {
  if (config.help || config.helpMarkdown || config.version) return config;
  const hasFixed = config.lat !== undefined || config.lon !== undefined;
  if (hasFixed && (config.lat === undefined || config.lon === undefined)) {
    throw new ConfigError("--lat and --lon must be given together");
  }
  if (!hasFixed && !config.positionFile) {
    throw new ConfigError("no location: give --lat and --lon, or --position-file");
  }
  if (!config.discoveryUrl && !config.registrationUrl) {
    throw new ConfigError("no MEC: give --discovery-url, or --registration-url (with --mqtt-url and --whip-url as needed)");
  }
  if (config.source.kind !== "file" && config.loop) {
    throw new ConfigError(`--loop needs a file: source, not "${config.source.kind}"`);
  }
  return { ...config, keyint: config.keyint ?? config.fps };
}
