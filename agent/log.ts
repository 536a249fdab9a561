/**
 * The agent's one logger: one JSON object per line on stderr, messages are past-tense
 * events ("registered", "gst exited") with their fields beside them.
 */
import { jsonLogLine, levelEnabled, type LogFields, type LogLevel as AnyLevel } from "../shared/runtime/json_log.ts";
import { writeStderrLine } from "./runtime.ts";

export type { LogFields };

/** Severity, lowest first. */
export type LogLevel = Exclude<AnyLevel, "silent">;

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
    if (levelEnabled(level, threshold)) sink(jsonLogLine(level, event, { ...bound, ...fields }, { error: errorText }));
  };
  return {
    debug: (e, f) => write("debug", e, f),
    info: (e, f) => write("info", e, f),
    warn: (e, f) => write("warn", e, f),
    error: (e, f) => write("error", e, f),
    child: (fields) => createLogger({ ...bound, ...fields }, sink),
  };
}
