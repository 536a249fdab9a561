/**
 * The core of both programs' loggers: one event becomes one JSON object on one line
 * (`time`, `level`, `msg`, then the fields), with URL passwords masked. Each program keeps a
 * thin wrapper (agent/log.ts, proxy/log.ts) that holds its threshold, binds its fields and
 * writes to its own sink.
 */
import { maskUrl } from "../mask_url.ts";

/** Severity, lowest first; `silent` (a threshold only) writes nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Fields logged with an event. */
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** True when an event at `level` is written under `threshold`. */
export function levelEnabled(level: LogLevel, threshold: LogLevel): boolean {
  return level !== "silent" && RANK[level] >= RANK[threshold];
}

/** Options of {@link jsonLogLine}. */
export interface JsonLogLineOptions {
  /** How an `Error` field value is logged; default its message. */
  error?: (error: Error) => unknown;
  /** The `time` field; default now. */
  now?: () => Date;
}

/** `msg` at `level` with `fields` as one JSON line (without the newline), URL passwords masked. */
export function jsonLogLine(level: LogLevel, msg: string, fields: LogFields = {}, options: JsonLogLineOptions = {}): string {
  const errorValue = options.error ?? ((error: Error) => error.message);
  const record: LogFields = { time: (options.now?.() ?? new Date()).toISOString(), level, msg };
  for (const [key, value] of Object.entries(fields)) record[key] = value instanceof Error ? errorValue(value) : value;
  let line: string;
  try {
    line = JSON.stringify(record);
  } catch (error) {
    // A field that cannot be serialised (a cycle, a BigInt) must not lose the event.
    line = JSON.stringify({ time: record.time, level, msg, logError: String(error) });
  }
  // Last line of defence: a URL password (RTSP source, broker URL, error text) never reaches the log.
  return maskUrl(line);
}
