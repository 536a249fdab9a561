/**
 * `make agent ARCH=arm64` (scripts/build_agent.sh) cross-builds one aarch64 ELF for vehicles'
 * ARM boards. Nothing here can run it (no arm64 machine or emulator in CI); the test checks
 * the file really is an executable for that machine.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./support/temp_dir.ts";

const ROOT = join(import.meta.dir, "..");
const EM_AARCH64 = 0xb7; // ELF e_machine (System V ABI, AArch64 supplement)

test("build_agent.sh ARCH=arm64 writes an aarch64 ELF executable", () => {
  const out = join(tempDir("vsb-arm64-").path, "vsb-agent");
  const r = spawnSync("bash", ["scripts/build_agent.sh"], {
    cwd: ROOT, encoding: "utf8", timeout: 300_000, env: { ...process.env, ARCH: "arm64", OUT: out },
  });
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/built .* \(\S+, arm64\) with (deno compile|bun build --compile)/);
  const header = Buffer.alloc(20);
  const fd = openSync(out, "r");
  readSync(fd, header, 0, 20, 0);
  closeSync(fd);
  expect(header.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect(header[4]).toBe(2); // 64-bit
  expect(header.readUInt16LE(16)).toBe(2); // ET_EXEC
  expect(header.readUInt16LE(18)).toBe(EM_AARCH64);
}, 300_000);
