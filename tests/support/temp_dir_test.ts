import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./temp_dir.ts";

test("tempDir() makes a directory that remove() deletes with its contents", () => {
  const dir = tempDir("vsb-temp-test-");
  writeFileSync(join(dir.path, "x.db"), "data");
  expect(existsSync(dir.path)).toBe(true);
  dir.remove();
  expect(existsSync(dir.path)).toBe(false);
});

test("tempDir() is removed at process exit by the cleanup the preload registers", () => {
  // A separate process, so this run's own cleanup (and shared broker) stay untouched.
  const support = fileURLToPath(new URL(".", import.meta.url));
  const script = `
    import { cleanupAllSync } from "${support}procs.ts";
    import { tempDir } from "${support}temp_dir.ts";
    process.on("exit", () => cleanupAllSync());
    console.log(tempDir("vsb-temp-test-").path);
    process.exit(0);
  `;
  const result = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20_000 });
  const path = result.stdout.trim();
  expect(path).toContain("vsb-temp-test-");
  expect(existsSync(path)).toBe(false);
});
