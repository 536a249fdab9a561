/**
 * The agent's one logger: one JSON object per line on stderr, messages are past-tense
 * events ("registered", "gst exited") with their fields beside them.
 */
import { maskUrl } from "../shared/mod.ts";
import { writeStderrLine } from "./runtime.ts";

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Fields logged with an event. */
export type LogFields = Record<string, unknown>;

/** A logger bound to some fields (e.g. the component). */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** Where lines go; stderr unless a test captures them. */
export type LogSink = (line: string) => void;

let threshold: LogLevel = "info";

/** Sets the lowest level written by every logger. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** Turns an error (with its causes) into loggable text. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause === undefined ? "" : `: ${errorText(error.cause)}`;
  return `${error.message}${cause}`;
}

/** Creates a logger writing JSON lines to `sink` (default stderr). */
export function createLogger(bound: LogFields = {}, sink: LogSink = writeStderrLine): Logger {
  const write = (level: LogLevel, event: string, fields?: LogFields) => {
    if (RANK[level] < RANK[threshold]) return;
    const line: LogFields = { time: new Date().toISOString(), level, msg: event, ...bound };
    for (const [key, value] of Object.entries(fields ?? {})) {
      line[key] = value instanceof Error ? errorText(value) : value;
    }
    // Last line of defence: a URL password (RTSP source, broker, error text) never reaches the log.
    sink(maskUrl(JSON.stringify(line)));
  };
  return {
    debug: (e, f) => write("debug", e, f),
    info: (e, f) => write("info", e, f),
    warn: (e, f) => write("warn", e, f),
    error: (e, f) => write("error", e, f),
    child: (fields) => createLogger({ ...bound, ...fields }, sink),
  };
}
