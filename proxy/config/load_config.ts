/**
 * Loads vsb-proxy's configuration in one fixed order — defaults → `--config FILE` →
 * `VSB_*` env → flags — validating every value with its option's schema. A bad value
 * stops with a one-line `ConfigError` that names where it came from (flag, env var, or
 * file key) and the value in quotes.
 */
import type { z } from "zod";
import { maskUrl } from "../../shared/mod.ts";
import type { LogLevel } from "../log.ts";
import { type ApiToken, parseTokenFile } from "./api_tokens.ts";
import { checkDiscovery } from "./check_discovery.ts";
import { checkPostgresUrl, dbPassword, isPostgresUrl } from "./db_target.ts";
import { ConfigError } from "./config_error.ts";
import { INFO_FLAGS, OPTIONS, type OptionSpec } from "./options.ts";
import { type BrokerTls, type ListenTls, readBrokerTls, readListenTls } from "./tls_files.ts";

export { ConfigError } from "./config_error.ts";
export { type BrokerTls, type ListenTls, readListenTls } from "./tls_files.ts";

/** The validated configuration. */
export interface Config {
  config?: string;
  listen: { host: string; port: number };
  /** Undefined: derived from the bound address at start. */
  publicUrl?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** PEM texts of --tls-cert/--tls-key (never printed); undefined: plain HTTP. */
  listenTls?: ListenTls;
  db: string;
  dbPasswordFile?: string;
  /** The PostgreSQL password from --db-password-file or PGPASSWORD (never printed). */
  dbPassword?: string;
  /** `--ended-retention` in ms. */
  endedRetention: number;
  /** The first of {@link amqpUrls} (the one named in messages). */
  amqpUrl: string;
  /** Every --amqp-url: the nodes of a cluster, tried in turn. */
  amqpUrls: string[];
  amqpCaFile?: string;
  amqpCertFile?: string;
  amqpKeyFile?: string;
  /** PEM texts read from the three files above (never printed). */
  amqpTls?: BrokerTls;
  /** The first of {@link mqttUrls}. */
  mqttUrl: string;
  /** Every --mqtt-url: the broker nodes discovery names. */
  mqttUrls: string[];
  mecId: string;
  /** `--discovery`: serve the Discovery API for many MECs. */
  discovery: boolean;
  discoveryRegisterUrl?: string;
  /** Operator token at the discovery service (never printed). */
  discoveryRegisterToken?: string;
  /** `--discovery-register-interval` in ms. */
  discoveryRegisterInterval: number;
  mecTiles?: string[];
  sendPolicy: "demand" | "always";
  keepaliveSeconds: number;
  /** From --api-token, VSB_API_TOKENS and the token file, merged. */
  apiTokens: ApiToken[];
  apiTokenFile?: string;
  jwksUrl?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtRoleClaim: string;
  insecureOpen: boolean;
  maxDataflowsPerSensor: number;
  maxWhepViewers: number;
  maxSdpBytes: number;
  maxLeasesPerClient: number;
  maxLeases: number;
  maxWhepViewersPerDataflow: number;
  udpForward: "off" | "requested" | "all";
  udpForwardHost: string;
  udpPorts: { first: number; last: number };
  iceAddresses: string[];
  iceServers: string[];
  icePorts?: { first: number; last: number };
  publishQueueSeconds: number;
  maxAccessUnitBytes: number;
  maxNackBurst: number;
  logLevel: LogLevel;
}

/** What the command line asked for. */
export type LoadResult = { kind: "run" | "check"; config: Config } | { kind: "help" } | { kind: "help-markdown" };

/** Reads a text file (injected: only proxy/runtime.ts touches the file system). */
export type ReadText = (path: string) => string;

type Raw = { value: unknown; where: string };

const SECRET_KEYS = new Set(["apiTokens", "discoveryRegisterToken"]);

/** `turn:USER:CREDENTIAL@HOST` with the credential masked (anywhere in a list or JSON). */
function maskIceCredentials(text: string): string {
  return text.replace(/(turns?:[^:@,\s"]*:)[^@,\s"]*@/g, "$1***@");
}

function shown(spec: OptionSpec, value: unknown): string {
  if (SECRET_KEYS.has(spec.key)) return "***";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return maskUrl(spec.key === "iceServers" ? maskIceCredentials(text) : text);
}

function parseArgv(argv: string[]): { flags: Map<string, Raw>; info?: "help" | "help-markdown"; check: boolean } {
  const byFlag = new Map<string, OptionSpec>(OPTIONS.map((o) => [o.flag, o]));
  const flags = new Map<string, Raw>();
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === INFO_FLAGS.help.flag || arg === "-h") return { flags, info: "help", check };
    if (arg === INFO_FLAGS.helpMarkdown.flag) return { flags, info: "help-markdown", check };
    if (arg === INFO_FLAGS.check.flag) {
      check = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byFlag.get(name);
    if (!spec) throw new ConfigError(`unknown argument "${arg}" (see --help)`);
    let value: string | undefined = eq > 0 && name !== arg ? arg.slice(eq + 1) : spec.switch ? "true" : argv[++i];
    if (value === undefined || (name === arg && !spec.switch && byFlag.has(value.split("=")[0]!))) {
      throw new ConfigError(`flag "${name}" needs a value ${spec.arg}`);
    }
    const previous = flags.get(spec.key);
    if (previous && !spec.repeatable) throw new ConfigError(`flag "${name}" was given twice`);
    if (spec.repeatable) value = previous ? `${previous.value as string},${value}` : value;
    flags.set(spec.key, { value, where: `flag ${name}` });
  }
  return { flags, check };
}

function readConfigFile(path: string, readText: ReadText): Map<string, Raw> {
  let text: string;
  try {
    text = readText(path);
  } catch (err) {
    throw new ConfigError(`config file "${path}" could not be read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file "${path}" is not JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError(`config file "${path}" must hold a JSON object`);
  }
  const keys = new Set<string>(OPTIONS.map((o) => o.key));
  const out = new Map<string, Raw>();
  for (const [key, value] of Object.entries(json)) {
    if (!keys.has(key) || key === "config") throw new ConfigError(`config file "${path}" key "${key}" is not an option`);
    out.set(key, { value, where: `config file "${path}" key ${key}` });
  }
  return out;
}

function validate(spec: OptionSpec, raw: Raw): unknown {
  const result = (spec.schema as z.ZodType).safeParse(raw.value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const at = issue.path.length > 0 ? ` (item ${issue.path.join(".")})` : "";
  throw new ConfigError(`${raw.where} "${shown(spec, raw.value)}"${at}: ${issue.message}`);
}

function readTokenFile(path: string, readText: ReadText): ApiToken[] {
  let text: string;
  try {
    text = readText(path);
  } catch (err) {
    throw new ConfigError(`API token file "${path}" could not be read: ${(err as Error).message}`);
  }
  try {
    return parseTokenFile(text);
  } catch (err) {
    throw new ConfigError(`API token file "${path}" ${(err as Error).message}`);
  }
}

/** Checks the auth options together: one token per identity, OIDC with its issuer and audience. */
function checkAuth(config: Config): void {
  const seen = new Set<string>();
  for (const t of config.apiTokens) {
    if (seen.has(t.token)) throw new ConfigError(`API token "${t.role}:***" (${t.name}) is given twice: every token needs one role`);
    seen.add(t.token);
  }
  if (config.jwksUrl && (!config.jwtIssuer || !config.jwtAudience)) {
    throw new ConfigError("--jwks-url needs --jwt-issuer and --jwt-audience: without them any token of that issuer's keys would pass");
  }
  if (!config.jwksUrl && (config.jwtIssuer || config.jwtAudience)) throw new ConfigError("--jwt-issuer and --jwt-audience need --jwks-url");
}

/**
 * The safe default: an API reachable from other hosts must have auth, or be opened on purpose
 * with `--insecure-open`. Checked by main (run and `--check`), not by loadConfig, so the
 * loader's own defaults stay testable.
 */
export function requireAuthOffLoopback(config: Config): void {
  if (config.apiTokens.length === 0 && !config.jwksUrl && !config.insecureOpen && !isLoopback(config.listen.host)) {
    throw new ConfigError(`--listen "${config.listen.host}:${config.listen.port}" is not loopback and no auth is configured: ` +
      "set --api-token (or --api-token-file) or --jwks-url, or pass --insecure-open to serve an open API on purpose");
  }
}

/** True for 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: only this host can connect. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^::ffff:/, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::1" || h === "localhost";
}

/** Parses `argv` (without the program name) against `env`; throws ConfigError on bad input. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>, readText: ReadText): LoadResult {
  const { flags, info, check } = parseArgv(argv);
  if (info) return { kind: info };
  const envRaw = new Map<string, Raw>();
  for (const spec of OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined && value !== "") envRaw.set(spec.key, { value, where: `env ${spec.env}` });
  }
  const configPath = (flags.get("config") ?? envRaw.get("config"))?.value as string | undefined;
  const file = configPath ? readConfigFile(configPath, readText) : new Map<string, Raw>();
  const out: Record<string, unknown> = {};
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const raw = flags.get(spec.key) ?? envRaw.get(spec.key) ?? file.get(spec.key) ??
      (spec.default !== undefined ? { value: spec.default, where: `default of ${spec.flag}` } : undefined);
    if (raw) out[spec.key] = validate(spec, raw);
  }
  const config = out as unknown as Config;
  config.amqpUrls = out.amqpUrl as string[];
  config.amqpUrl = config.amqpUrls[0]!;
  config.mqttUrls = out.mqttUrl as string[];
  config.mqttUrl = config.mqttUrls[0]!;
  config.apiTokens ??= [];
  config.iceAddresses ??= [];
  if (config.apiTokenFile) config.apiTokens = [...config.apiTokens, ...readTokenFile(config.apiTokenFile, readText)];
  checkAuth(config);
  checkDiscovery(config);
  if (isPostgresUrl(config.db)) {
    checkPostgresUrl(config.db);
    config.dbPassword = dbPassword(config.dbPasswordFile, env, readText);
  }
  config.amqpTls = readBrokerTls(config, readText);
  config.listenTls = readListenTls(config, readText);
  return { kind: check ? "check" : "run", config };
}

/** `config` as `--check` prints it: JSON, with API tokens and URL passwords masked. */
export function shownConfig(config: Config): string {
  const masked = {
    ...config, apiTokens: config.apiTokens.map((t) => `${t.role}:*** (${t.name})`), amqpTls: undefined, listenTls: undefined,
    db: maskUrl(config.db), dbPassword: config.dbPassword === undefined ? undefined : "***",
    amqpUrl: maskUrl(config.amqpUrl), amqpUrls: config.amqpUrls.map(maskUrl), mqttUrl: maskUrl(config.mqttUrl), mqttUrls: config.mqttUrls.map(maskUrl),
    iceServers: config.iceServers.map(maskIceCredentials),
    discoveryRegisterToken: config.discoveryRegisterToken === undefined ? undefined : "***",
  };
  return `${JSON.stringify(masked, null, 2)}\n`;
}
