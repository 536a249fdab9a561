/**
 * The proxy's one logger: one JSON object per line on stderr, `msg` a past-tense event
 * ("registered", "bus connected"), fields beside it. Tests silence it or capture lines
 * with `configureLog()`.
 */
import { jsonLogLine, levelEnabled, type LogFields, type LogLevel } from "../shared/runtime/json_log.ts";

export type { LogFields, LogLevel };

let threshold: LogLevel = "info";
let sink: (line: string) => void = (line) => {
  process.stderr.write(line);
};

/** Sets the level and, for tests, where the lines go. */
export function configureLog(options: { level?: LogLevel; sink?: (line: string) => void }): void {
  if (options.level) threshold = options.level;
  if (options.sink) sink = options.sink;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) {
    const out: LogFields = { name: value.name, message: value.message };
    if (value.cause !== undefined) out.cause = errorFields(value.cause);
    return out;
  }
  return value;
}

function write(level: LogLevel, msg: string, fields?: LogFields): void {
  if (levelEnabled(level, threshold)) sink(`${jsonLogLine(level, msg, fields, { error: errorFields })}\n`);
}

/** A component's view of the logger: every line carries `component`. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** The logger for `component` (e.g. "api", "bus", "registry"). */
export function logger(component: string): Logger {
  const tag = (fields?: LogFields) => ({ component, ...fields });
  return {
    debug: (msg, fields) => write("debug", msg, tag(fields)),
    info: (msg, fields) => write("info", msg, tag(fields)),
    warn: (msg, fields) => write("warn", msg, tag(fields)),
    error: (msg, fields) => write("error", msg, tag(fields)),
  };
}
