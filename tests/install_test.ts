/**
 * `make install` into a DESTDIR, as a fleet admin runs it: binaries, units rewritten for the
 * PREFIX, RabbitMQ drop-ins, and the config files the units read. The installed binaries then
 * accept the installed example configs (`--check`), so `systemctl enable --now` starts them.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentBinary } from "./e2e/agent_e2e_harness.ts";
import { tempDir } from "./support/temp_dir.ts";

const ROOT = join(import.meta.dir, "..");

function make(...args: string[]) {
  const r = spawnSync("make", ["-s", ...args], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`make ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r;
}

function run(bin: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(bin, args, { encoding: "utf8", timeout: 60_000, env: { PATH: "/usr/bin:/bin", ...env } });
}

describe("make install", () => {
  test("installs binaries, units for PREFIX, drop-ins and configs the installed binaries accept; keeps an admin's config", () => {
    agentBinary();
    make("proxy");
    const dest = tempDir("vsb-install-").path;
    const vars = [`DESTDIR=${dest}`, "PREFIX=/usr"];
    make("install", ...vars);

    for (const bin of ["vsb-proxy", "vsb-consume", "vsb-agent"]) {
      expect(statSync(join(dest, "usr/bin", bin)).mode & 0o111).not.toBe(0);
    }
    const unit = readFileSync(join(dest, "etc/systemd/system/vsb-proxy.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/bin/vsb-proxy --config /etc/vsb/proxy.json");
    expect(unit).not.toContain("/usr/local/");
    expect(readFileSync(join(dest, "etc/systemd/system/vsb-agent.service"), "utf8")).toContain("ExecStart=/usr/bin/vsb-agent --config /etc/vsb/agent.json");
    // The replica template (README "Beyond one process") and its haproxy recipe come along.
    expect(readFileSync(join(dest, "etc/systemd/system/vsb-proxy@.service"), "utf8")).toContain("ExecStart=/usr/bin/vsb-proxy --config /etc/vsb/proxy.json");
    expect(existsSync(join(dest, "usr/share/doc/vsb/haproxy-vsb.cfg"))).toBe(true);
    expect(existsSync(join(dest, "etc/systemd/system/rabbitmq-server.service.d/vsb.conf"))).toBe(true);
    expect(existsSync(join(dest, "etc/rabbitmq/conf.d/90-vsb.conf"))).toBe(true);
    expect(statSync(join(dest, "etc/vsb/proxy.env")).mode & 0o077).toBe(0); // secrets: owner only

    // Auth is on as installed: a root-only token file with a fresh operator token, which the
    // unit hands over as a credential (VSB_API_TOKEN_FILE); without it 0.0.0.0 is refused.
    const tokens = join(dest, "etc/vsb/api-tokens");
    expect(statSync(tokens).mode & 0o077).toBe(0);
    expect(readFileSync(tokens, "utf8")).toMatch(/^operator:[0-9a-f]{48} operator$/m);
    expect(unit).toContain("LoadCredential=api-tokens:/etc/vsb/api-tokens");
    const proxyCheck = run(join(dest, "usr/bin/vsb-proxy"), ["--check", "--config", join(dest, "etc/vsb/proxy.json")], { VSB_API_TOKEN_FILE: tokens });
    expect(proxyCheck.stderr).toBe("");
    expect(proxyCheck.status).toBe(0);
    expect(JSON.parse(proxyCheck.stdout)).toMatchObject({ sendPolicy: "demand", listen: { port: 8080 }, apiTokens: ["operator:*** (operator)"] });
    expect(proxyCheck.stdout).not.toContain(readFileSync(tokens, "utf8").match(/^operator:(\S+)/m)![1]);
    // The example names /dev/video0, absent here: the installed agent must refuse it in one
    // line, and accept the rest of the file with the source overridden from the environment.
    const agentConfig = join(dest, "etc/vsb/agent.json");
    const noCamera = run(join(dest, "usr/bin/vsb-agent"), ["--check", "--config", agentConfig]);
    if (!existsSync("/dev/video0")) {
      expect(noCamera.status).toBe(1);
      expect(noCamera.stderr.trim()).toBe('vsb-agent: --source "v4l2:/dev/video0": no such device "/dev/video0" (is the camera plugged in?)');
    }
    const agentCheck = run(join(dest, "usr/bin/vsb-agent"), ["--check", "--config", agentConfig], { VSB_SOURCE: "test" });
    expect(agentCheck.status).toBe(0);
    expect(agentCheck.stdout).toContain("quadkey 18: 031333123201033303");

    writeFileSync(join(dest, "etc/vsb/proxy.json"), '{"mecId":"mine"}\n');
    const again = make("install", ...vars);
    expect(again.stdout).toContain("/etc/vsb/proxy.json exists: kept");
    expect(again.stdout).toContain("/etc/vsb/api-tokens exists: kept");
    expect(readFileSync(join(dest, "etc/vsb/proxy.json"), "utf8")).toBe('{"mecId":"mine"}\n');
  }, 300_000);

  test("the proxy's --check rejects a bad config file in one line naming the key", () => {
    const dir = tempDir("vsb-check-").path;
    const file = join(dir, "proxy.json");
    writeFileSync(file, '{"keepaliveSeconds":"soon"}');
    const r = spawnSync(process.execPath, [join(ROOT, "proxy/main.ts"), "--check", "--config", file], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`vsb-proxy: config file "${file}" key keepaliveSeconds "soon": must be a number`);
  }, 60_000);
});

describe("vsb-proxy --check", () => {
  test("masks API tokens, URL passwords and TURN credentials, in the printout and in errors", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "proxy/main.ts"), "--check", "--api-token", "operator:0123456789abcdef-secret",
      "--amqp-url", "amqp://vsb:amqp-secret@127.0.0.1:5672", "--ice-servers", "turn:mec:turn-secret@10.0.0.1:3478"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/secret/);
    expect(JSON.parse(r.stdout)).toMatchObject({ amqpUrl: "amqp://vsb:***@127.0.0.1:5672", iceServers: ["turn:mec:***@10.0.0.1:3478"], apiTokens: [expect.stringMatching(/^operator:\*\*\* \(token-[0-9a-f]{12}\)$/)] });
    const bad = spawnSync(process.execPath, [join(ROOT, "proxy/main.ts"), "--check", "--ice-servers", "turn:mec:turn-secret@"], { encoding: "utf8", timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("turn:mec:***@");
    expect(bad.stderr).not.toContain("turn-secret");
  }, 60_000);
});
