// Three network namespaces joined by two veth pairs, for tests that put a user-space relay on a
// real link (this kernel has no sch_netem, nor tc actions or nftables):
//
//   S 10.A.x.1 ─veth─ 10.A.x.2 R 10.B.x.1 ─veth─ 10.B.x.2 P
//   sender              relay (forwards)          proxy + RabbitMQ
//
// A and B are the caller's subnet bytes, x = pid % 250. The addresses exist only on links inside
// the test's own namespaces (nothing leaves the machine, nothing is added to the host's stack),
// so two runs could not clash even on equal addresses; distinct subnets per test file keep logs
// unambiguous. What is global are the namespace names: `{prefix}-{pid}-{n}-{S|R|P}`, unique
// among live processes; the veths are created inside the namespaces, never in the host's. A
// namespace of a dead pid with this prefix (a run that was SIGKILLed) is removed first.
import { spawnSync } from "node:child_process";
import { isAlive, onCleanup, sleepSync } from "../support/procs.ts";

/** The three sides. */
export type NetnsSide = "s" | "r" | "p";

/** Options of {@link createNetns}. */
export interface NetnsOptions {
  /** Start of the namespace names (letters, digits); one per test file, e.g. "vloss". */
  prefix: string;
  /** Second address byte of the S–R link and of the R–P link, e.g. [201, 202]. */
  subnets: readonly [number, number];
}

/** Namespaces made by {@link createNetns}. */
export interface Netns {
  /** Namespace names. */
  readonly ns: Readonly<Record<NetnsSide, string>>;
  /** s: S's address; rs: R's address facing S; rp: R's address facing P; p: P's address. */
  readonly addr: Readonly<{ s: string; rs: string; rp: string; p: string }>;
  /** `argv` prefixed to run in namespace `side` (`ip netns exec NS …`). */
  exec(side: NetnsSide, argv: string[]): string[];
  /** Ends what still runs in the namespaces and deletes them (their veths go with them); safe to call twice. */
  remove(): void;
}

let made = 0;

function run(args: string[]): string | undefined {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8", timeout: 10_000 });
  if (r.status === 0) return undefined;
  return `"${args.join(" ")}" failed: ${`${r.stderr ?? ""}${r.error ?? ""}`.trim() || `status ${r.status}`}`;
}

/**
 * Ends what still runs in namespace `name` (`ip netns pids`: only processes of this test's own
 * namespaces), TERM then KILL after `graceMs`, and deletes it. A peer killed before it could stop
 * its children (RabbitMQ, the proxy) leaves them there; this is their last stop.
 */
function deleteNamespace(name: string, graceMs = 3000): void {
  const pids = () => (spawnSync("ip", ["netns", "pids", name], { encoding: "utf8" }).stdout ?? "").split("\n").filter(Boolean).map(Number).filter(isAlive);
  const signal = (sig: NodeJS.Signals) => pids().forEach((pid) => {
    try {
      process.kill(pid, sig);
    } catch {
      // It ended meanwhile.
    }
  });
  if (pids().length > 0) {
    signal("SIGTERM");
    for (const deadline = Date.now() + graceMs; pids().length > 0 && Date.now() < deadline;) sleepSync(50);
    signal("SIGKILL");
  }
  run(["ip", "netns", "del", name]);
}

function removeStale(prefix: string): void {
  const pattern = new RegExp(`^${prefix}-(\\d+)-\\d+-[SRP]$`);
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0]!;
    const pid = pattern.exec(name)?.[1];
    if (pid !== undefined && !isAlive(Number(pid))) deleteNamespace(name);
  }
}

/**
 * Makes the namespaces, links, addresses, routes and R's forwarding. Throws (having removed
 * what it made) with the step that failed. They are also removed when the run ends, however.
 */
export function createNetns(options: NetnsOptions): Netns {
  if (!/^[a-z][a-z0-9]{0,11}$/i.test(options.prefix)) throw new RangeError(`netns prefix "${options.prefix}" must be 1-12 letters or digits`);
  const [a, b] = options.subnets;
  const x = process.pid % 250;
  removeStale(options.prefix);
  const base = `${options.prefix}-${process.pid}-${made++}`;
  const ns = { s: `${base}-S`, r: `${base}-R`, p: `${base}-P` };
  const addr = { s: `10.${a}.${x}.1`, rs: `10.${a}.${x}.2`, rp: `10.${b}.${x}.1`, p: `10.${b}.${x}.2` };
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    for (const name of Object.values(ns)) deleteNamespace(name);
  };
  const unregister = onCleanup(remove, remove);
  const steps = [
    ...Object.values(ns).map((name) => ["ip", "netns", "add", name]),
    // Made inside the namespaces: no name in the host's stack, so no clash with other runs.
    ["ip", "link", "add", "s0", "netns", ns.s, "type", "veth", "peer", "name", "r0", "netns", ns.r],
    ["ip", "link", "add", "r1", "netns", ns.r, "type", "veth", "peer", "name", "p0", "netns", ns.p],
    ["ip", "-n", ns.s, "addr", "add", `${addr.s}/30`, "dev", "s0"],
    ["ip", "-n", ns.r, "addr", "add", `${addr.rs}/30`, "dev", "r0"],
    ["ip", "-n", ns.r, "addr", "add", `${addr.rp}/30`, "dev", "r1"],
    ["ip", "-n", ns.p, "addr", "add", `${addr.p}/30`, "dev", "p0"],
    ...Object.values(ns).map((name) => ["ip", "-n", name, "link", "set", "lo", "up"]),
    ["ip", "-n", ns.s, "link", "set", "s0", "up"], ["ip", "-n", ns.r, "link", "set", "r0", "up"],
    ["ip", "-n", ns.r, "link", "set", "r1", "up"], ["ip", "-n", ns.p, "link", "set", "p0", "up"],
    ["ip", "-n", ns.s, "route", "add", "default", "via", addr.rs],
    ["ip", "-n", ns.p, "route", "add", "default", "via", addr.rp],
    ["ip", "netns", "exec", ns.r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
  ];
  for (const step of steps) {
    const failed = run(step);
    if (failed) {
      unregister();
      remove();
      throw new Error(failed);
    }
  }
  return {
    ns,
    addr,
    exec: (side, argv) => ["ip", "netns", "exec", ns[side], ...argv],
    remove: () => {
      unregister();
      remove();
    },
  };
}
