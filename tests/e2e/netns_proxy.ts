// The proxy side of the network-namespace tests (media_loss_peer.ts, cellular_peer.ts), run in
// namespace P: a private RabbitMQ and `bun proxy/main.ts` whose media is announced at the relay's
// address (`--ice-address`), so every WebRTC datagram of the sender goes through the relay.
import { join } from "node:path";
import { ROUTE } from "../../shared/mod.ts";
import { freePort } from "../support/ports.ts";
import { cleanupAll, spawnTracked } from "../support/procs.ts";
import { startRabbit } from "../support/rabbitmq.ts";
import { tempDir } from "../support/temp_dir.ts";
import { waitForHttp } from "../support/wait.ts";

const root = new URL("../..", import.meta.url).pathname;

/** Where the proxy answers. */
export interface NetnsProxy {
  /** `http://127.0.0.1:PORT`, for this namespace's own calls. */
  base: string;
  /** `http://PUBLIC_ADDR:PORT`: its `--public-url`, for the sender's registration. */
  publicUrl: string;
  amqpUrl: string;
}

/**
 * Starts RabbitMQ and the proxy on `0.0.0.0` (public URL at `publicAddr`, media announced at
 * `iceAddr` on `icePorts` "LO-HI"), open without tokens (a private namespace, on purpose), and
 * resolves once it is ready.
 */
export async function startNetnsProxy(publicAddr: string, iceAddr: string, options: { icePorts: string }): Promise<NetnsProxy> {
  const rabbit = await startRabbit();
  const dir = tempDir("vsb-netns-proxy-");
  const port = await freePort();
  const publicUrl = `http://${publicAddr}:${port}`;
  spawnTracked(process.execPath, [
    join(root, "proxy/main.ts"), "--listen", `0.0.0.0:${port}`, "--public-url", publicUrl,
    "--db", join(dir.path, "vsb.db"), "--amqp-url", rabbit.amqpUrl, "--ice-address", iceAddr, "--ice-ports", options.icePorts,
    "--keepalive-seconds", "60", "--log-level", "warn", "--insecure-open",
  ], { cwd: root, name: "vsb-proxy" });
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}${ROUTE.ready}`, { timeoutMs: 30_000 });
  return { base, publicUrl, amqpUrl: rabbit.amqpUrl };
}

/**
 * On the first SIGINT or SIGTERM: runs `beforeExit` (write results, close the AMQP connection),
 * then stops this peer's proxy, RabbitMQ and epmd by pid, then exits 0; a TERM during that is
 * ignored (the stopper's KILL still ends it). A failing `beforeExit` must not skip the cleanup
 * (the broker's epmd would be left running).
 */
export function exitOnSignal(beforeExit: () => Promise<unknown> | unknown): void {
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    void Promise.resolve()
      .then(beforeExit)
      .catch((error) => console.error(`peer cleanup failed: ${error}`))
      .then(() => cleanupAll())
      .finally(() => process.exit(0));
  };
  process.on("SIGINT", exit);
  process.on("SIGTERM", exit);
}
