// Temporary directories for tests, removed when the run ends (or at once with `remove()`),
// so that a failed or timed-out test leaves nothing behind in /tmp.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onCleanup } from "./procs.ts";

/** A fresh directory `${tmpdir}/${prefix}XXXXXX`, removed by `remove()` or at the end of the run. */
export function tempDir(prefix = "vsb-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(path, { recursive: true, force: true });
  const unregister = onCleanup(remove, remove);
  return {
    path,
    remove: () => {
      unregister();
      remove();
    },
  };
}
