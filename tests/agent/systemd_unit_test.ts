// The agent's systemd unit agrees with the agent: how it is stopped, and which exit it must
// not answer with a restart.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const UNIT = readFileSync(join(ROOT, "systemd", "vsb-agent.service"), "utf8");

describe("systemd/vsb-agent.service", () => {
  test("KillMode=mixed: SIGTERM goes to the agent alone, which ends gst with EOS itself", () => {
    expect(UNIT).toMatch(/^KillMode=mixed$/m);
  });

  test("RestartPreventExitStatus=2 matches the exit code of a bad configuration", () => {
    expect(UNIT).toMatch(/^RestartPreventExitStatus=2$/m);
    const r = spawnSync(process.execPath, ["agent/main.ts", "--source", "nonsense"], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toContain('--source "nonsense"');
    expect(r.status).toBe(2);
  });
});
