// Test helper: runs code against werift as shipped (the fast path taken out for the duration)
// and puts the fast path back afterwards, so tests compare the two within one process.
import { configureLog, logger } from "../../../proxy/log.ts";
import { installWeriftFastPath, uninstallWeriftFastPath } from "../../../proxy/webrtc/werift_fast_path.ts";

/** Installs the fast path (as the proxy does at start-up); fails the test file if it is refused. */
export function ensureFastPath(): void {
  configureLog({ level: "silent" });
  const status = installWeriftFastPath(logger("test"));
  if (!status.installed) throw new Error(`werift fast path refused: ${status.reason}`);
}

/** `fn`'s result with werift's own members in place (synchronous, so nothing else runs meanwhile). */
export function withStockWerift<T>(fn: () => T): T {
  uninstallWeriftFastPath();
  try {
    return fn();
  } finally {
    ensureFastPath();
  }
}
