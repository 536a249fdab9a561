/**
 * The unit files pass `systemd-analyze verify` and keep the hardening the README promises.
 * ExecStart binaries are not installed on a test machine, so a copy of each unit points
 * ExecStart at an existing executable; nothing else is changed.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const UNITS = ["vsb-proxy.service", "vsb-agent.service"];
const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
const canVerify = analyze.status === 0;
if (!canVerify) console.log("skip: systemd-analyze is not installed, unit verification not run");

function read(unit: string): string {
  return readFileSync(join(import.meta.dir, "..", "systemd", unit), "utf8");
}

describe("systemd units", () => {
  test.skipIf(!canVerify)("`systemd-analyze verify` finds nothing to complain about", () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-units-"));
    try {
      for (const unit of UNITS) {
        writeFileSync(join(dir, unit), read(unit).replace(/^ExecStart=\S+/m, "ExecStart=/bin/true"));
      }
      const r = spawnSync("systemd-analyze", ["verify", ...UNITS.map((u) => join(dir, u))], { encoding: "utf8" });
      const complaints = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() && !/network-online|rabbitmq-server/.test(l));
      expect(complaints).toEqual([]);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const unit of UNITS) {
    test(`${unit} is hardened, restarts always, has a watchdog, and comments every directive`, () => {
      const text = read(unit);
      for (const d of ["DynamicUser=yes", "StateDirectory=", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=always", "WatchdogSec=", "Type=notify", "MemoryHigh=", "MemoryMax="]) {
        expect(text).toContain(d);
      }
      expect(text).not.toMatch(/^MemoryDenyWriteExecute=/m);
      // A bounded unit: the soft limit sits below the hard one.
      const size = (key: string) => {
        const m = new RegExp(`^${key}=(\\d+)([MG])$`, "m").exec(text);
        expect(m).not.toBeNull();
        return Number(m![1]) * (m![2] === "G" ? 1024 : 1);
      };
      expect(size("MemoryHigh")).toBeLessThan(size("MemoryMax"));
      const lines = text.split("\n");
      lines.forEach((line, i) => {
        if (/^[A-Za-z]+=/.test(line)) expect(`${unit}:${i + 1} ${lines[i - 1]}`).toMatch(/:\d+ #/);
      });
    });
  }

  test("the proxy unit's Bun runtime variables are ones Bun accepts (it refuses to start on an unknown one)", () => {
    const vars = [...read("vsb-proxy.service").matchAll(/^Environment=(BUN_\w+=\S+)$/gm)].map((m) => m[1]!);
    expect(vars.length).toBeGreaterThan(0);
    const env = Object.fromEntries(vars.map((v) => v.split("=", 2) as [string, string]));
    const run = (extra: Record<string, string>) =>
      spawnSync(process.execPath, [join(import.meta.dir, "..", "proxy/main.ts"), "--help"], { encoding: "utf8", env: { ...process.env, ...extra } });
    const ok = run(env);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(run({ BUN_JSC_notAnOption: "1" }).status).not.toBe(0); // the check can fail
  });

  test("the agent unit reaches cameras, the proxy unit no devices", () => {
    expect(read("vsb-agent.service")).toMatch(/^DeviceAllow=char-video4linux rw$/m);
    expect(read("vsb-agent.service")).toMatch(/^SupplementaryGroups=video$/m);
    expect(read("vsb-proxy.service")).toMatch(/^PrivateDevices=yes$/m);
  });
});
