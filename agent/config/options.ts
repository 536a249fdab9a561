/**
 * The one table of agent options. `--help`, the flag parser, the env reader, the config-file
 * reader and the zod validation are all generated from it, so they cannot disagree.
 * Keys are the config-file keys (camelCase); flags are their kebab-case spelling.
 */
import { z } from "zod";
import { parseSourceSpec } from "../capture/source_spec.ts";

/** How a raw text value (flag or env) is turned into JSON before validation. */
export type OptionKind = "string" | "number" | "boolean" | "list";

/** One option: its flag, env names, help, and the zod schema that validates it. */
export interface OptionSpec<S extends z.ZodType = z.ZodType> {
  flag: string;
  env: readonly string[];
  kind: OptionKind;
  /** Placeholder shown in `--help`. */
  arg?: string;
  help: string;
  /** Shown in `--help`; the schema applies it. */
  defaultText?: string;
  schema: S;
  /** False for command-line-only actions (`--help`, `--check`, `--config`). */
  inFile?: boolean;
  group: string;
}

function opt<S extends z.ZodType>(spec: OptionSpec<S>): OptionSpec<S> {
  return spec;
}

const url = z.string().refine((v) => URL.canParse(v), "must be a URL");
const httpUrl = url.refine((v) => /^https?:/i.test(v), "must be an http:// or https:// URL");
const positiveInt = (max: number) => z.number().int().min(1).max(max);
const source = z.string().transform((value, ctx) => {
  try {
    return parseSourceSpec(value);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

/** `--ladder`: "auto", "off", or strictly falling kbit/s, two to four of them. */
const ladder = z.string().transform((value, ctx): "auto" | "off" | number[] => {
  const v = value.trim().toLowerCase();
  if (v === "auto" || v === "off") return v;
  const rungs = v.split(",").map((r) => Number(r.trim()));
  const bad = rungs.length < 2 || rungs.length > 4 || rungs.some((r, i) => !Number.isInteger(r) || r < 50 || r > 1_000_000 || (i > 0 && r >= rungs[i - 1]!));
  if (!bad) return rungs;
  ctx.addIssue({ code: "custom", message: "must be auto, off, or 2 to 4 falling bitrates in kbit/s (50 to 1000000), e.g. 4000,2000,1000" });
  return z.NEVER;
});

/** Every option of vsb-agent, in `--help` order. */
export const OPTIONS = {
  source: opt({ group: "Capture", flag: "--source", env: ["VSB_SOURCE"], kind: "string", arg: "SPEC", defaultText: "test",
    help: "test | v4l2:/dev/videoN | udp:PORT | rtsp://HOST/PATH | file:PATH (5GMETA: VIDEO_SOURCE + VIDEO_PARAM)",
    schema: source.default(parseSourceSpec("test")) }),
  v4l2Format: opt({ group: "Capture", flag: "--v4l2-format", env: ["VSB_V4L2_FORMAT"], kind: "string", arg: "raw|h264", defaultText: "raw",
    help: "what the camera gives: raw frames (encoded here) or H.264 (sent as is)", schema: z.enum(["raw", "h264"]).default("raw") }),
  rtspTransport: opt({ group: "Capture", flag: "--rtsp-transport", env: ["VSB_RTSP_TRANSPORT"], kind: "string", arg: "tcp|udp", defaultText: "tcp",
    help: "RTSP transport", schema: z.enum(["tcp", "udp"]).default("tcp") }),
  loop: opt({ group: "Capture", flag: "--loop", env: ["VSB_LOOP"], kind: "boolean", defaultText: "false",
    help: "play a file source again from the start when it ends (without it, the file's end ends the session and the agent exits 0)", schema: z.boolean().default(false) }),
  encoder: opt({ group: "Capture", flag: "--encoder", env: ["VSB_ENCODER"], kind: "string", arg: "NAME", defaultText: "x264",
    help: "encoder for raw sources: x264 | nvh264 | vaapih264 | v4l2h264", schema: z.enum(["x264", "nvh264", "vaapih264", "v4l2h264"]).default("x264") }),
  width: opt({ group: "Capture", flag: "--width", env: ["VSB_WIDTH"], kind: "number", arg: "PX", defaultText: "1280",
    help: "frame width of raw sources", schema: z.number().int().min(16).max(8192).default(1280) }),
  height: opt({ group: "Capture", flag: "--height", env: ["VSB_HEIGHT"], kind: "number", arg: "PX", defaultText: "720",
    help: "frame height of raw sources", schema: z.number().int().min(16).max(8192).default(720) }),
  fps: opt({ group: "Capture", flag: "--fps", env: ["VSB_FPS"], kind: "number", arg: "N", defaultText: "30",
    help: "frames per second of raw sources (and registered dataSampleRate)", schema: positiveInt(240).default(30) }),
  bitrate: opt({ group: "Capture", flag: "--bitrate", env: ["VSB_BITRATE"], kind: "number", arg: "KBPS", defaultText: "2000",
    help: "encoder bitrate in kbit/s", schema: positiveInt(1_000_000).default(2000) }),
  keyint: opt({ group: "Capture", flag: "--keyint", env: ["VSB_KEYINT"], kind: "number", arg: "FRAMES", defaultText: "fps (one a second)",
    help: "frames between keyframes (gst-launch cannot hear the MEC's PLI)", schema: positiveInt(10_000).optional() }),
  ladder: opt({ group: "Capture", flag: "--ladder", env: ["VSB_LADDER"], kind: "string", arg: "auto|off|KBPS,…", defaultText: "auto",
    help: "uplink adaptation: encoder bitrates switched at keyframes as the link shrinks and recovers (auto: --bitrate, /2, /4; pass-through sources drop to keyframes only); off: one encoder, never adapt",
    schema: ladder.default("auto") }),
  gstLaunch: opt({ group: "Capture", flag: "--gst-launch", env: ["VSB_GST_LAUNCH"], kind: "string", arg: "PATH", defaultText: "gst-launch-1.0",
    help: "gst-launch-1.0 executable", schema: z.string().min(1).default("gst-launch-1.0") }),
  lat: opt({ group: "Location", flag: "--lat", env: ["VSB_LAT"], kind: "number", arg: "DEG",
    help: "latitude (WGS84) of a fixed sensor", schema: z.number().min(-85.05112878).max(85.05112878).optional() }),
  lon: opt({ group: "Location", flag: "--lon", env: ["VSB_LON"], kind: "number", arg: "DEG",
    help: "longitude (WGS84) of a fixed sensor", schema: z.number().min(-180).max(180).optional() }),
  positionFile: opt({ group: "Location", flag: "--position-file", env: ["VSB_POSITION_FILE"], kind: "string", arg: "FILE",
    help: "gpsd-style JSON ({\"lat\":…,\"lon\":…}), re-read when it changes", schema: z.string().min(1).optional() }),
  handoverHold: opt({ group: "Location", flag: "--handover-hold", env: ["VSB_HANDOVER_HOLD"], kind: "number", arg: "SECONDS", defaultText: "5",
    help: "hysteresis at tile borders: a new zoom-18 tile counts (discovery is asked, a handover may follow) only once every position fix for this long has been in it; 0 = at once", schema: z.number().min(0).max(3600).default(5) }),
  country: opt({ group: "Location", flag: "--country", env: ["VSB_COUNTRY"], kind: "string", arg: "NAME", defaultText: "\"\"",
    help: "registered locationCountry", schema: z.string().max(64).default("") }),
  discoveryUrl: opt({ group: "MEC", flag: "--discovery-url", env: ["VSB_DISCOVERY_URL"], kind: "string", arg: "URL",
    help: "discovery service: GET {URL}/mec/tile/{quadkey} names the MEC's services", schema: httpUrl.optional() }),
  registrationUrl: opt({ group: "MEC", flag: "--registration-url", env: ["VSB_REGISTRATION_URL"], kind: "string", arg: "URL",
    help: "registration API (static; overrides discovery)", schema: httpUrl.optional() }),
  mqttUrl: opt({ group: "MEC", flag: "--mqtt-url", env: ["VSB_MQTT_URL"], kind: "list", arg: "URL", defaultText: "from discovery",
    help: "message broker, MQTT 3.1.1; mqtts:// for TLS; the nodes of a cluster: repeat or comma-separate, the next is tried when one is lost (5GMETA: AMQP_IP, on port 1883; AMQP_PORT is ignored)", schema: z.array(url).default([]) }),
  whipUrl: opt({ group: "MEC", flag: "--whip-url", env: ["VSB_WHIP_URL"], kind: "string", arg: "URL",
    help: "WHIP endpoint (default: the one the registration answer names)", schema: httpUrl.optional() }),
  apiToken: opt({ group: "MEC", flag: "--api-token", env: ["VSB_API_TOKEN"], kind: "string", arg: "TOKEN",
    help: "bearer token for the registration API (a sensor token of the MEC; better: --api-token-file)", schema: z.string().min(1).optional() }),
  apiTokenFile: opt({ group: "MEC", flag: "--api-token-file", env: ["VSB_API_TOKEN_FILE"], kind: "string", arg: "FILE",
    help: "file holding the bearer token (trimmed), so it is not in argv or the environment", schema: z.string().min(1).optional() }),
  proxyCaFile: opt({ group: "MEC", flag: "--proxy-ca-file", env: ["VSB_PROXY_CA_FILE"], kind: "string", arg: "FILE",
    help: "PEM CA certificate(s) that an https:// proxy (discovery, registration, WHIP) must chain to (instead of the system CAs under Bun; added to them under Deno)", schema: z.string().min(1).optional() }),
  mqttUser: opt({ group: "MEC", flag: "--mqtt-user", env: ["VSB_MQTT_USER", "AMQP_USER"], kind: "string", arg: "NAME",
    help: "message broker user", schema: z.string().min(1).optional() }),
  mqttPassword: opt({ group: "MEC", flag: "--mqtt-password", env: ["VSB_MQTT_PASSWORD", "AMQP_PASS"], kind: "string", arg: "SECRET",
    help: "message broker password (better: --mqtt-password-file or the env var)", schema: z.string().optional() }),
  mqttPasswordFile: opt({ group: "MEC", flag: "--mqtt-password-file", env: ["VSB_MQTT_PASSWORD_FILE"], kind: "string", arg: "FILE",
    help: "file holding the message broker password (trimmed), so it is not in argv or the environment", schema: z.string().min(1).optional() }),
  mqttCaFile: opt({ group: "MEC", flag: "--mqtt-ca-file", env: ["VSB_MQTT_CA_FILE"], kind: "string", arg: "FILE",
    help: "PEM CA certificate(s) that an mqtts:// broker's certificate must chain to (instead of the system CAs)", schema: z.string().min(1).optional() }),
  mqttCertFile: opt({ group: "MEC", flag: "--mqtt-cert-file", env: ["VSB_MQTT_CERT_FILE"], kind: "string", arg: "FILE",
    help: "PEM client certificate for mqtts:// (a broker that asks for one); needs --mqtt-key-file", schema: z.string().min(1).optional() }),
  mqttKeyFile: opt({ group: "MEC", flag: "--mqtt-key-file", env: ["VSB_MQTT_KEY_FILE"], kind: "string", arg: "FILE",
    help: "PEM private key of --mqtt-cert-file", schema: z.string().min(1).optional() }),
  noMqtt: opt({ group: "MEC", flag: "--no-mqtt", env: ["VSB_NO_MQTT"], kind: "boolean", defaultText: "false",
    help: "do not use MQTT (demand is then learnt from keep-alives only)", schema: z.boolean().default(false) }),
  stun: opt({ group: "MEC", flag: "--stun", env: ["VSB_STUN"], kind: "list", arg: "URL", defaultText: "none",
    help: "STUN server, stun:HOST:PORT (repeat or comma-separate)", schema: z.array(z.string().regex(/^stuns?:/, "must start with stun:")).default([]) }),
  turn: opt({ group: "MEC", flag: "--turn", env: ["VSB_TURN"], kind: "list", arg: "URL", defaultText: "none",
    help: "TURN server, turn:HOST:PORT (repeat or comma-separate)", schema: z.array(z.string().regex(/^turns?:/, "must start with turn:")).default([]) }),
  turnUser: opt({ group: "MEC", flag: "--turn-user", env: ["VSB_TURN_USER"], kind: "string", arg: "NAME",
    help: "TURN user name", schema: z.string().optional() }),
  turnPassword: opt({ group: "MEC", flag: "--turn-password", env: ["VSB_TURN_PASSWORD"], kind: "string", arg: "SECRET",
    help: "TURN credential", schema: z.string().optional() }),
  iceAddress: opt({ group: "MEC", flag: "--ice-address", env: ["VSB_ICE_ADDRESS"], kind: "list", arg: "IP", defaultText: "all local addresses",
    help: "local IPv4 address(es) to offer ICE candidates on (repeat or comma-separate)", schema: z.array(z.ipv4()).default([]) }),
  sourceId: opt({ group: "Metadata", flag: "--source-id", env: ["VSB_SOURCE_ID"], kind: "string", arg: "ID", defaultText: "host name",
    help: "registered sourceId", schema: z.string().min(1).max(128).optional() }),
  sourceType: opt({ group: "Metadata", flag: "--source-type", env: ["VSB_SOURCE_TYPE"], kind: "string", arg: "TYPE", defaultText: "vehicle",
    help: "registered sourceType", schema: z.string().min(1).max(64).default("vehicle") }),
  licenseType: opt({ group: "Metadata", flag: "--license-type", env: ["VSB_LICENSE_TYPE"], kind: "string", arg: "TYPE", defaultText: "profit",
    help: "registered licenseType", schema: z.string().max(256).default("profit") }),
  licenseGeolimit: opt({ group: "Metadata", flag: "--license-geolimit", env: ["VSB_LICENSE_GEOLIMIT"], kind: "string", arg: "AREA", defaultText: "europe",
    help: "registered licenseGeolimit", schema: z.string().max(256).default("europe") }),
  udpForward: opt({ group: "Metadata", flag: "--udp-forward", env: ["VSB_UDP_FORWARD"], kind: "boolean", defaultText: "false",
    help: "ask the MEC to also re-send this stream as RTP/UDP for a legacy pipeline (granted unless its proxy runs --udp-forward off)", schema: z.boolean().default(false) }),
  ttl: opt({ group: "Run", flag: "--ttl", env: ["VSB_TTL", "VIDEO_TTL"], kind: "number", arg: "SECONDS", defaultText: "0 (forever)",
    help: "end the session and exit after this long", schema: z.number().min(0).max(31_536_000).default(0) }),
  keepRegistration: opt({ group: "Run", flag: "--keep-registration", env: ["VSB_KEEP_REGISTRATION"], kind: "boolean", defaultText: "false",
    help: "do not DELETE the dataflow on exit", schema: z.boolean().default(false) }),
  statusFile: opt({ group: "Run", flag: "--status-file", env: ["VSB_STATUS_FILE"], kind: "string", arg: "FILE",
    help: "write the status as JSON here (atomically) every 10 s and on state changes", schema: z.string().min(1).optional() }),
  clockOffsetMs: opt({ group: "Run", flag: "--clock-offset-ms", env: ["VSB_CLOCK_OFFSET_MS"], kind: "number", arg: "MS", defaultText: "0",
    help: "test/ops aid: add MS (negative: behind) to the wall clock that stamps each picture's capture time; keep the system clock right with NTP or GPS instead", schema: z.number().int().min(-86_400_000).max(86_400_000).default(0) }),
  logLevel: opt({ group: "Run", flag: "--log-level", env: ["VSB_LOG_LEVEL"], kind: "string", arg: "LEVEL", defaultText: "info",
    help: "debug | info | warn | error", schema: z.enum(["debug", "info", "warn", "error"]).default("info") }),
  config: opt({ group: "Run", flag: "--config", env: ["VSB_CONFIG"], kind: "string", arg: "FILE", inFile: false,
    help: "JSON file whose keys are the camelCase option names", schema: z.string().min(1).optional() }),
  check: opt({ group: "Run", flag: "--check", env: [], kind: "boolean", inFile: false,
    help: "validate the config, print the quadkeys and the gst pipeline, and exit", schema: z.boolean().default(false) }),
  version: opt({ group: "Run", flag: "--version", env: [], kind: "boolean", inFile: false,
    help: "print the version and exit", schema: z.boolean().default(false) }),
  help: opt({ group: "Run", flag: "--help", env: [], kind: "boolean", inFile: false,
    help: "print this help and exit", schema: z.boolean().default(false) }),
  helpMarkdown: opt({ group: "Run", flag: "--help-markdown", env: [], kind: "boolean", inFile: false,
    help: "print the options as a Markdown table (the README's reference) and exit", schema: z.boolean().default(false) }),
} as const;

/** An option key (= config-file key). */
export type OptionKey = keyof typeof OPTIONS;

/** The validated configuration. */
export type AgentConfig = { [K in OptionKey]: z.output<(typeof OPTIONS)[K]["schema"]> };

/** Every option key, in table order. */
export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];
