// haproxy from the Debian package in front of running proxies, configured from the recipe the
// README gives (systemd/haproxy-vsb.cfg) with only its `bind` and `server` lines pointed at
// free 127.0.0.1 ports; run in the foreground (-db) and stopped by pid.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../support/ports.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitForHttp } from "../support/wait.ts";

const recipe = new URL("../../systemd/haproxy-vsb.cfg", import.meta.url).pathname;

/** Whether haproxy is installed (scripts/setup.sh installs it). */
export function hasHaproxy(): boolean {
  return spawnSync("haproxy", ["-v"], { encoding: "utf8" }).status === 0;
}

/** A running haproxy. */
export interface Haproxy {
  base: string;
  proc: Proc;
  stop(): Promise<void>;
}

/** The recipe with its frontend on `port` and one `server` line per backend port. */
export function haproxyConfig(port: number, backends: number[]): string {
  const text = readFileSync(recipe, "utf8").replace(/^(\s*)bind \S+$/m, `$1bind 127.0.0.1:${port}`);
  const lines = text.split("\n");
  const first = lines.findIndex((l) => /^\s*server \S+ \S+ check$/.test(l));
  if (first < 0) throw new Error(`no "server … check" line in "${recipe}"`);
  const indent = /^\s*/.exec(lines[first]!)![0];
  const servers = backends.map((p, i) => `${indent}server proxy${i + 1} 127.0.0.1:${p} check`);
  return [...lines.slice(0, first), ...servers, ...lines.slice(first).filter((l) => !/^\s*server /.test(l))].join("\n");
}

/** Starts haproxy in front of `backends`; resolves once its /ready answers 200 (a backend is up). */
export async function startHaproxy(backends: number[]): Promise<Haproxy> {
  const dir = tempDir("vsb-haproxy-");
  const port = await freePort();
  const cfg = join(dir.path, "haproxy.cfg");
  writeFileSync(cfg, haproxyConfig(port, backends));
  const proc = spawnTracked("haproxy", ["-db", "-f", cfg], { name: `haproxy:${port}`, cwd: dir.path });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/ready`, { timeoutMs: 15_000, proc });
  return {
    base, proc,
    async stop() {
      await proc.stop({ signals: ["SIGTERM", "SIGKILL"] });
      dir.remove();
    },
  };
}
