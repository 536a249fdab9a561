/**
 * The one table of vsb-proxy's options. `--help`, the README's option reference and the
 * loader are all generated from it, so they cannot drift apart. Each option has a JSON
 * key (config file), a flag, an env var, and a zod schema that accepts both the string
 * form (flags, env) and the JSON form (config file).
 */
import { z } from "zod";
import { parseApiToken } from "./api_tokens.ts";

const NUMBER = /^-?\d+(\.\d+)?$/;

/** A number given as a JSON number or as a string (flags and env are strings). */
const num = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === "string" && NUMBER.test(v.trim()) ? Number(v) : v),
    z.number({ error: "must be a number" }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** A list given as a JSON array or a comma-separated string. */
const list = (item: z.ZodType<string, string>) =>
  z.union([
    z.array(z.string()),
    z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean)),
  ]).pipe(z.array(item));

/** A whole number given as a JSON number or as a string. */
const int = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v),
    z.number({ error: "must be a whole number" }).int("must be a whole number").min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** An on/off switch: a JSON boolean, or true/false/1/0/yes/no from a flag or env. */
const bool = z.union([
  z.boolean(),
  z.string().trim().toLowerCase().pipe(z.enum(["true", "false", "1", "0", "yes", "no", "on", "off", ""], { error: "must be true or false" }))
    .transform((v) => ["true", "1", "yes", "on", ""].includes(v)),
]);

/** `ROLE:TOKEN` items (see api_tokens.ts), as a JSON array or a comma list; the message never shows a token. */
const apiTokenList = z.union([
  z.array(z.string()),
  z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean)),
]).pipe(z.array(z.string().transform((value, ctx) => {
  const parsed = parseApiToken(value.trim());
  if (typeof parsed !== "string") return parsed;
  ctx.addIssue({ code: "custom", message: parsed });
  return z.NEVER;
})));

const port = z.number().int().min(0).max(65535);

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration `N` + `s`, `m`, `h` or `d` (e.g. `90s`, `12h`, `7d`) between `min` and `max` ms; parsed to ms. */
export const duration = (min: number, max: number) => z.string().trim().transform((value, ctx) => {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value);
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2]!]! : NaN;
  if (!m || ms < min || ms > max) {
    ctx.addIssue({ code: "custom", message: `must be a duration like 90s, 30m, 12h or 7d, from ${min / 1000}s to ${max / 86_400_000}d` });
    return z.NEVER;
  }
  return ms;
});

/** `host:port`, `:port` or `[v6]:port`. */
export const ListenSchema = z.string().trim().transform((value, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(value);
  const parsed = m ? port.safeParse(Number(m[3])) : undefined;
  if (!m || !parsed?.success) {
    ctx.addIssue({ code: "custom", message: "must be HOST:PORT with a port from 0 to 65535" });
    return z.NEVER;
  }
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port: parsed.data };
});

/** `first-last` inclusive UDP range. */
export const PortRangeSchema = z.string().trim().transform((value, ctx) => {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(value);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1 || last > 65535 || first > last) {
    ctx.addIssue({ code: "custom", message: "must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535" });
    return z.NEVER;
  }
  return { first, last };
});

const url = (protocols: string[]) =>
  z.string().trim().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL with scheme ${protocols.map((p) => p.replace(":", "")).join(" or ")}`);

/** One STUN/TURN server as werift's (and the browser's) RTCIceServer takes it. */
export interface IceServerSpec {
  urls: string;
  username?: string;
  credential?: string;
}

const ICE_HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;

/**
 * An `--ice-servers` item: `stun:HOST[:PORT]`, or a TURN server with its long-term credentials
 * (RFC 8489 §9.2) in front of the host, `turn:USER:CREDENTIAL@HOST[:PORT][?transport=udp|tcp]`
 * (or `turns:`). RFC 7065 TURN URIs have no user part: the two fields become RTCIceServer's
 * `username`/`credential`, percent-decoded (encode `:` `@` `,` `%` in them). Returns the server,
 * or why the item is wrong (without echoing the credential).
 */
export function parseIceServer(value: string): IceServerSpec | string {
  const m = /^(stuns?|turns?):(.*)$/i.exec(value.trim());
  if (!m) return "must start with stun:, stuns:, turn: or turns:";
  const scheme = m[1]!.toLowerCase();
  const turn = scheme.startsWith("turn");
  const at = m[2]!.lastIndexOf("@");
  const host = m[2]!.slice(at + 1); // HOST[:PORT][?transport=…]
  if (!ICE_HOST.test(host) || (!turn && host.includes("?"))) return `must be ${scheme}:${turn ? "USER:CREDENTIAL@" : ""}HOST[:PORT]`;
  if (!turn) return at < 0 ? { urls: `${scheme}:${host}` } : "a STUN server takes no credentials";
  if (at < 0) return `a TURN server needs credentials: ${scheme}:USER:CREDENTIAL@HOST[:PORT]`;
  const userinfo = m[2]!.slice(0, at);
  const colon = userinfo.indexOf(":");
  if (colon <= 0 || colon === userinfo.length - 1) return `TURN credentials must be USER:CREDENTIAL, as in ${scheme}:USER:CREDENTIAL@HOST`;
  try {
    return { urls: `${scheme}:${host}`, username: decodeURIComponent(userinfo.slice(0, colon)), credential: decodeURIComponent(userinfo.slice(colon + 1)) };
  } catch {
    return "TURN credentials have a broken percent-encoding (write % as %25)";
  }
}

const iceServer = z.string().superRefine((value, ctx) => {
  const parsed = parseIceServer(value);
  if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
});

/** How one option is spelled and checked. */
export interface OptionSpec {
  key: string;
  flag: string;
  env: string;
  /** Placeholder of the value in `--help`. */
  arg: string;
  help: string;
  /** Default as a user would type it; undefined when there is none. */
  default?: string;
  /** The flag may be repeated; the env var and the config key take a comma list / array. */
  repeatable?: boolean;
  /** A switch: the flag takes no value (`--flag` is true; `--flag=false` also works). */
  switch?: boolean;
  /** Only in the config file, or only given by the media side (shown all the same). */
  schema: z.ZodType;
}

/** Every option of vsb-proxy, in `--help` order. */
export const OPTIONS = [
  { key: "config", flag: "--config", env: "VSB_CONFIG", arg: "FILE", help: "JSON file with any of these options by key (flags and env override it)", schema: z.string().min(1) },
  { key: "listen", flag: "--listen", env: "VSB_LISTEN", arg: "HOST:PORT", default: "0.0.0.0:8080", help: "Address of the HTTP API (registration, discovery, WHIP/WHEP, metrics). Not loopback: auth is required (--api-token, --api-token-file or --jwks-url) or --insecure-open", schema: ListenSchema },
  { key: "tlsCert", flag: "--tls-cert", env: "VSB_TLS_CERT", arg: "FILE", help: "PEM certificate (chain) for HTTPS on --listen; needs --tls-key. Both files are read again on SIGHUP: the new certificate serves new connections, streams and open requests go on", schema: z.string().min(1) },
  { key: "tlsKey", flag: "--tls-key", env: "VSB_TLS_KEY", arg: "FILE", help: "PEM private key of --tls-cert", schema: z.string().min(1) },
  { key: "publicUrl", flag: "--public-url", env: "VSB_PUBLIC_URL", arg: "URL", help: "Base URL sensors reach this proxy at, used in whipUrl and discovery [http(s)://LISTEN-HOST:PORT, 127.0.0.1 for 0.0.0.0; https with --tls-cert]", schema: url(["http:", "https:"]) },
  { key: "db", flag: "--db", env: "VSB_DB", arg: "PATH|URL", default: "vsb-proxy.db", help: "Registration store: a SQLite file (WAL; created if missing; one process), or postgres://USER@HOST:PORT/DB for PostgreSQL, which several proxies may share (a pool of 10 connections; migrated at start)", schema: z.string().min(1) },
  { key: "dbPasswordFile", flag: "--db-password-file", env: "VSB_DB_PASSWORD_FILE", arg: "FILE", help: "File whose first line is the PostgreSQL password of --db (else PGPASSWORD, else the URL's); keeps it out of argv", schema: z.string().min(1) },
  { key: "endedRetention", flag: "--ended-retention", env: "VSB_ENDED_RETENTION", arg: "DURATION", default: "7d", help: "How long ended dataflows stay listed (GET /dataflows?active=false) before they are deleted from --db (checked every minute): 90s, 30m, 12h, 7d", schema: duration(60_000, 3650 * 86_400_000) },
  { key: "amqpUrl", flag: "--amqp-url", env: "VSB_AMQP_URL", arg: "URL", repeatable: true, default: "amqp://guest:guest@127.0.0.1:5672", help: "RabbitMQ for events and frames: one node, or the nodes of a cluster (repeat or comma list; one connection, to the next node on loss); amqps:// for TLS. Its password belongs in the env var or the config file, not in argv (percent-encode , in it)", schema: list(url(["amqp:", "amqps:"])).pipe(z.array(z.string()).min(1, "needs at least one URL")) },
  { key: "amqpCaFile", flag: "--amqp-ca-file", env: "VSB_AMQP_CA_FILE", arg: "FILE", help: "PEM CA certificate(s) that an amqps:// broker's certificate must chain to (instead of the system CAs)", schema: z.string().min(1) },
  { key: "amqpCertFile", flag: "--amqp-cert-file", env: "VSB_AMQP_CERT_FILE", arg: "FILE", help: "PEM client certificate for amqps:// (a broker that asks for one); needs --amqp-key-file", schema: z.string().min(1) },
  { key: "amqpKeyFile", flag: "--amqp-key-file", env: "VSB_AMQP_KEY_FILE", arg: "FILE", help: "PEM private key of --amqp-cert-file", schema: z.string().min(1) },
  { key: "mqttUrl", flag: "--mqtt-url", env: "VSB_MQTT_URL", arg: "URL", repeatable: true, default: "mqtt://127.0.0.1:1883", help: "Message broker advertised to agents in discovery (RabbitMQ's MQTT 3.1.1 plugin); a cluster's nodes: repeat or comma list, one message-broker entry each", schema: list(url(["mqtt:", "mqtts:", "tcp:", "ws:", "wss:"])).pipe(z.array(z.string()).min(1, "needs at least one URL")) },
  { key: "mecId", flag: "--mec-id", env: "VSB_MEC_ID", arg: "ID", default: "local", help: "This MEC's id in discovery answers", schema: z.string().trim().min(1).max(128) },
  { key: "discovery", flag: "--discovery", env: "VSB_DISCOVERY", arg: "", switch: true, default: "false", help: "Also serve the 5GMETA Discovery API for many MECs from --db: POST/GET/DELETE /mec, POST/DELETE /mec/ID/tile/TILE (operator), and GET /mec/tile/QUADKEY answers the MECs serving that tile, most specific first, instead of this MEC alone. See Discovery for many MECs", schema: bool },
  { key: "discoveryRegisterUrl", flag: "--discovery-register-url", env: "VSB_DISCOVERY_REGISTER_URL", arg: "URL", help: "Discovery service this MEC registers itself at (POST /mec with --mec-id, its services and --mec-tiles) on start, again every --discovery-register-interval, and leaves (DELETE) on a clean stop; retried with backoff while it is down. Needs --mec-tiles and a --mec-id of its own", schema: url(["http:", "https:"]) },
  { key: "discoveryRegisterToken", flag: "--discovery-register-token", env: "VSB_DISCOVERY_REGISTER_TOKEN", arg: "TOKEN", help: "Operator bearer token at --discovery-register-url (give it in the env var or the config file, not in argv)", schema: z.string().trim().min(1).max(4096) },
  { key: "discoveryRegisterInterval", flag: "--discovery-register-interval", env: "VSB_DISCOVERY_REGISTER_INTERVAL", arg: "DURATION", default: "60s", help: "How often this MEC registers again at --discovery-register-url (idempotent: same MEC, tiles replaced by --mec-tiles)", schema: duration(1000, 86_400_000) },
  { key: "mecTiles", flag: "--mec-tiles", env: "VSB_MEC_TILES", arg: "QUADKEYS", repeatable: true, help: "Tiles this MEC serves, registered at --discovery-register-url: quadkeys (digits 0-3, any zoom), comma list or repeated", schema: list(z.string().trim().regex(/^[0-3]{1,31}$/, "must be a quadkey of 1 to 31 digits 0-3")).pipe(z.array(z.string()).min(1, "needs at least one quadkey")) },
  { key: "sendPolicy", flag: "--send-policy", env: "VSB_SEND_POLICY", arg: "demand|always", default: "demand", help: "demand: sensors send only while a consumer holds a matching lease; always: every registered sensor sends", schema: z.enum(["demand", "always"]) },
  { key: "keepaliveSeconds", flag: "--keepalive-seconds", env: "VSB_KEEPALIVE_SECONDS", arg: "N", default: "5", help: "Keep-alive period told to sensors; a dataflow expires after 3 missed periods", schema: num(0.1, 3600) },
  { key: "apiTokens", flag: "--api-token", env: "VSB_API_TOKENS", arg: "ROLE:TOKEN", repeatable: true, help: "Static bearer token with its role: sensor, consumer or operator (repeatable; env: comma list). A token without a role is refused. See Security", schema: apiTokenList },
  { key: "apiTokenFile", flag: "--api-token-file", env: "VSB_API_TOKEN_FILE", arg: "FILE", help: "File with one \"ROLE:TOKEN [NAME]\" per line (# comments), added to --api-token; keeps secrets out of argv. NAME is the owner recorded for its dataflows", schema: z.string().min(1) },
  { key: "jwksUrl", flag: "--jwks-url", env: "VSB_JWKS_URL", arg: "URL", help: "OIDC: JWKS of the token issuer (e.g. Keycloak's .../protocol/openid-connect/certs); bearer JWTs signed by its keys are accepted", schema: url(["http:", "https:"]) },
  { key: "jwtIssuer", flag: "--jwt-issuer", env: "VSB_JWT_ISSUER", arg: "ISS", help: "OIDC: required iss claim (e.g. https://kc.example/realms/mec); needed with --jwks-url", schema: z.string().trim().min(1).max(1024) },
  { key: "jwtAudience", flag: "--jwt-audience", env: "VSB_JWT_AUDIENCE", arg: "AUD", help: "OIDC: required aud claim (one of the token's audiences); needed with --jwks-url", schema: z.string().trim().min(1).max(1024) },
  { key: "jwtRoleClaim", flag: "--jwt-role-claim", env: "VSB_JWT_ROLE_CLAIM", arg: "PATH", default: "realm_access.roles", help: "OIDC: dotted path of the claim holding the roles (an array or a space-separated string), e.g. roles or resource_access.vsb-proxy.roles", schema: z.string().trim().regex(/^[^.\s]+(\.[^.\s]+)*$/, "must be a dotted claim path like realm_access.roles") },
  { key: "insecureOpen", flag: "--insecure-open", env: "VSB_INSECURE_OPEN", arg: "", switch: true, default: "false", help: "Serve a non-loopback --listen without any auth, on purpose (without it the proxy refuses to start)", schema: bool },
  { key: "maxDataflowsPerSensor", flag: "--max-dataflows-per-sensor", env: "VSB_MAX_DATAFLOWS_PER_SENSOR", arg: "N", default: "16", help: "Active dataflows one sensor identity may hold; one more answers 429 (operators are not limited)", schema: int(1, 1_000_000) },
  { key: "maxLeasesPerClient", flag: "--max-leases-per-client", env: "VSB_MAX_LEASES_PER_CLIENT", arg: "N", default: "64", help: "Live demand leases one client identity may hold; one more answers 429 (operators are not limited)", schema: int(1, 1_000_000) },
  { key: "maxLeases", flag: "--max-leases", env: "VSB_MAX_LEASES", arg: "N", default: "10000", help: "Live demand leases of all clients together (WHEP viewers' included); one more POST /demands answers 429", schema: int(1, 10_000_000) },
  { key: "maxWhepViewers", flag: "--max-whep-viewers", env: "VSB_MAX_WHEP_VIEWERS", arg: "N", default: "64", help: "WHEP viewers at most over all dataflows, those still negotiating included (each costs an encryption per packet); one more answers 503", schema: int(1, 100_000) },
  { key: "maxWhepViewersPerDataflow", flag: "--max-whep-viewers-per-dataflow", env: "VSB_MAX_WHEP_VIEWERS_PER_DATAFLOW", arg: "N", default: "32", help: "WHEP viewers at most of one dataflow, those still negotiating included; one more answers 503", schema: int(1, 100_000) },
  { key: "maxSdpBytes", flag: "--max-sdp-bytes", env: "VSB_MAX_SDP_BYTES", arg: "N", default: "65536", help: "Largest WHIP/WHEP SDP offer; a bigger one answers 413 from its Content-Length, or once that many bytes were read (the rest is not)", schema: int(1024, 16 * 1024 * 1024) },
  { key: "udpForward", flag: "--udp-forward", env: "VSB_UDP_FORWARD", arg: "off|requested|all", default: "requested", help: "Which dataflows re-send their RTP over UDP for legacy pipelines: none; those whose registration says \"udpForward\": true; or all but those that say false. Only those get a port", schema: z.enum(["off", "requested", "all"]) },
  { key: "udpForwardHost", flag: "--udp-forward-host", env: "VSB_UDP_FORWARD_HOST", arg: "HOST", default: "127.0.0.1", help: "Where the RTP of each forwarding dataflow is re-sent", schema: z.string().trim().min(1).max(255) },
  { key: "udpPorts", flag: "--udp-ports", env: "VSB_UDP_PORTS", arg: "FIRST-LAST", default: "5000-5999", help: "UDP forward ports, one per forwarding dataflow, allocated without collisions", schema: PortRangeSchema },
  { key: "iceAddresses", flag: "--ice-address", env: "VSB_ICE_ADDRESSES", arg: "ADDR", repeatable: true, help: "Address announced in ICE candidates, e.g. the public one of a MEC behind NAT (repeatable; env: comma list)", schema: list(z.string().trim().min(1).max(255)) },
  { key: "iceServers", flag: "--ice-servers", env: "VSB_ICE_SERVERS", arg: "URLS", default: "", help: "STUN/TURN servers, comma list: stun:HOST[:PORT], turn:USER:CREDENTIAL@HOST[:PORT][?transport=tcp] (percent-encode : @ , in the credentials; give them in the env var, not in argv). None by default, and never a public STUN server: nothing leaves the MEC by itself", schema: list(iceServer) },
  { key: "icePorts", flag: "--ice-ports", env: "VSB_ICE_PORTS", arg: "FIRST-LAST", help: "UDP port range for WebRTC media [any]", schema: PortRangeSchema },
  { key: "publishQueueSeconds", flag: "--publish-queue-seconds", env: "VSB_PUBLISH_QUEUE_SECONDS", arg: "S", default: "2", help: "Video kept per stream while RabbitMQ is away, then dropped and counted", schema: num(0, 60) },
  { key: "maxAccessUnitBytes", flag: "--max-access-unit-bytes", env: "VSB_MAX_ACCESS_UNIT_BYTES", arg: "N", default: "4194304", help: "Bytes one access unit may hold while it is assembled (packets of one timestamp without an end); a bigger one is dropped at once, a keyframe asked for, and counted in vsb_access_units_oversize_total", schema: int(65_536, 1_073_741_824) },
  { key: "maxNackBurst", flag: "--max-nack-burst", env: "VSB_MAX_NACK_BURST", arg: "N", default: "64", help: "Widest RTP sequence gap that is NACKed; a wider one is given up at once and a keyframe asked for instead, counted in vsb_rtp_nack_bursts_capped_total", schema: int(1, 1024) },
  { key: "logLevel", flag: "--log-level", env: "VSB_LOG_LEVEL", arg: "LEVEL", default: "info", help: "debug, info, warn, error or silent", schema: z.enum(["debug", "info", "warn", "error", "silent"]) },
] as const satisfies readonly OptionSpec[];

/** Flags that print something and exit. */
export const INFO_FLAGS = {
  help: { flag: "--help", help: "Print this help and exit" },
  helpMarkdown: { flag: "--help-markdown", help: "Print the options as a Markdown table (the README's reference) and exit" },
  check: { flag: "--check", help: "Validate the configuration (flags, env, config file), print it with secrets masked, and exit" },
} as const;
