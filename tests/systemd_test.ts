/**
 * The unit files pass `systemd-analyze verify` and keep the hardening the README promises.
 * ExecStart binaries are not installed on a test machine, so a copy of each unit points
 * ExecStart at an existing executable; nothing else is changed.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPTIONS } from "../proxy/config/options.ts";

const UNITS = ["vsb-proxy.service", "vsb-agent.service", "vsb-proxy@.service"];
/** A template is verified as one of its instances (`%i` = 1). */
const verifiedName = (unit: string) => unit.replace("@.", "@1.");
const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
const canVerify = analyze.status === 0;
if (!canVerify) console.log("skip: systemd-analyze is not installed, unit verification not run");

function read(unit: string): string {
  return readFileSync(join(import.meta.dir, "..", "systemd", unit), "utf8");
}

/** Every `key` RabbitMQ's installed config schemas (cuttlefish) map, as patterns: `$name` is one segment. */
function rabbitSchemaKeys(): RegExp[] | undefined {
  const lib = "/usr/lib/rabbitmq/lib";
  const server = existsSync(lib) ? readdirSync(lib).filter((d) => d.startsWith("rabbitmq_server-")).sort().at(-1) : undefined;
  if (!server) return undefined;
  const plugins = join(lib, server, "plugins");
  const files = readdirSync(plugins).flatMap((p) => [join(plugins, p, "priv", "schema"), join(plugins, p, "priv")])
    .filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((f) => f.endsWith(".schema")).map((f) => join(d, f)));
  const keys = files.flatMap((f) => [...readFileSync(f, "utf8").matchAll(/\{mapping,\s*"([^"]+)"/g)].map((m) => m[1]!));
  return keys.map((k) => new RegExp(`^${k.split(".").map((part) => part.startsWith("$") ? "[^.]+" : part).join("\\.")}$`));
}

describe("systemd units", () => {
  test.skipIf(!canVerify)("`systemd-analyze verify` finds nothing to complain about", () => {
    const dir = mkdtempSync(join(tmpdir(), "vsb-units-"));
    try {
      for (const unit of UNITS) {
        writeFileSync(join(dir, verifiedName(unit)), read(unit).replace(/^ExecStart=\S+/m, "ExecStart=/bin/true"));
      }
      const r = spawnSync("systemd-analyze", ["verify", ...UNITS.map((u) => join(dir, verifiedName(u)))], { encoding: "utf8" });
      const complaints = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() && !/network-online|rabbitmq-server|postgresql/.test(l));
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

  test("vsb-proxy@.service is vsb-proxy.service per replica: own env file and state, shared PostgreSQL, no SQLite", () => {
    const directives = (text: string) => text.split("\n").filter((l) => /^[A-Za-z]+=/.test(l));
    const template = directives(read("vsb-proxy@.service"));
    expect(template).toContain("EnvironmentFile=/etc/vsb/proxy-%i.env");
    // Shared settings are required: without VSB_DB a replica would run on a SQLite file of its own.
    expect(template).toContain("EnvironmentFile=/etc/vsb/proxy.env");
    expect(template).toContain("StateDirectory=vsb-proxy-%i");
    expect(template).toContain("WorkingDirectory=/var/lib/vsb-proxy-%i");
    expect(template.filter((l) => l.startsWith("Environment=VSB_DB="))).toEqual([]);
    expect(template.find((l) => l.startsWith("Description="))).toContain("%i");
    // Everything else (hardening, watchdog, limits, credentials) is the single unit's, line for line.
    const perReplica = /^(Description|After|Wants|Environment=VSB_DB|EnvironmentFile|StateDirectory|WorkingDirectory)=?/;
    const single = directives(read("vsb-proxy.service")).filter((l) => !perReplica.test(l));
    expect(single.filter((l) => !template.includes(l))).toEqual([]);
    expect(template).toContain("Wants=postgresql.service");
  });

  test("the replica env example sets only real proxy variables, and haproxy-vsb.cfg's first server is its listen port", () => {
    const envs = new Set(OPTIONS.map((o) => (o as { env?: string }).env).filter((e): e is string => e !== undefined));
    const lines = read("proxy-instance.env.example").split("\n").filter((l) => /^[A-Z_]+=/.test(l));
    const keys = lines.map((l) => l.split("=")[0]!);
    expect(keys.sort()).toEqual(["VSB_ICE_PORTS", "VSB_LISTEN", "VSB_PUBLIC_URL", "VSB_UDP_PORTS"]);
    expect(keys.filter((k) => !envs.has(k))).toEqual([]);
    expect(envs.has("VSB_NOT_AN_OPTION")).toBe(false); // the check can fail
    const listen = lines.find((l) => l.startsWith("VSB_LISTEN="))!.split("=")[1];
    const servers = [...read("haproxy-vsb.cfg").matchAll(/^\s*server \S+ (\S+) check$/gm)].map((m) => m[1]);
    expect(servers[0]).toBe(listen);
    expect(servers.length).toBeGreaterThanOrEqual(2);
  });

  const haproxy = spawnSync("haproxy", ["-v"], { encoding: "utf8" }).status === 0;
  if (!haproxy) console.log("skip: haproxy is not installed, systemd/haproxy-vsb.cfg not checked");
  test.skipIf(!haproxy)("`haproxy -c` accepts systemd/haproxy-vsb.cfg", () => {
    const r = spawnSync("haproxy", ["-c", "-f", join(import.meta.dir, "..", "systemd", "haproxy-vsb.cfg")], { encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toContain("Configuration file is valid");
    expect(r.status).toBe(0);
  });

  const schema = rabbitSchemaKeys();
  test.skipIf(!schema)("every key of systemd/rabbitmq-vsb.conf, its commented TLS and CLUSTER blocks too, is one RabbitMQ's schema knows", () => {
    const lines = read("rabbitmq-vsb.conf").split("\n");
    // `key = value`, or `#key = value` (a line to uncomment); prose comments have a space after #.
    const keys = lines.map((l) => /^#?([a-z][a-z0-9_.]*) = \S/.exec(l)?.[1]).filter((k): k is string => k !== undefined);
    expect(keys).toContain("cluster_formation.classic_config.nodes.1");
    expect(keys).toContain("distribution.listener.port_range.min");
    expect(keys.filter((k) => !schema!.some((re) => re.test(k)))).toEqual([]);
    expect(schema!.some((re) => re.test("cluster_formation.classic_config.nodez.1"))).toBe(false); // the check can fail
  });

  test("the agent unit reaches cameras, the proxy unit no devices", () => {
    expect(read("vsb-agent.service")).toMatch(/^DeviceAllow=char-video4linux rw$/m);
    expect(read("vsb-agent.service")).toMatch(/^SupplementaryGroups=video$/m);
    expect(read("vsb-proxy.service")).toMatch(/^PrivateDevices=yes$/m);
  });
});
