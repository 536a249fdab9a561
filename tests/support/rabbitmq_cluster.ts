// A RabbitMQ cluster on 127.0.0.1 for tests (#14): N nodes of the Debian package's server, each
// with its own temp dir, node name (vsbc1@localhost, …) and free AMQP/MQTT/dist ports, sharing
// one tracked epmd and one Erlang cookie; nodes 2..N `join_cluster` node 1. Every node can be
// killed (SIGKILL, like a crash) and started again, when it rejoins by itself.
import { randomBytes } from "node:crypto";
import { freePort, LOOPBACK } from "./ports.ts";
import { onCleanup, type Proc, spawnTracked } from "./procs.ts";
import { type Rabbit, startRabbit } from "./rabbitmq.ts";
import { waitForPort } from "./wait.ts";

/** A running cluster. */
export interface RabbitCluster {
  readonly nodes: Rabbit[];
  /** Every node's AMQP URL (guest), in node order. */
  readonly amqpUrls: string[];
  /** Every node's MQTT URL, in node order. */
  readonly mqttUrls: string[];
  /** Names of the nodes `cluster_status` lists as running, asked of `via`. */
  runningNodes(via?: Rabbit): Promise<string[]>;
}

let clusters = 0;

/** Starts an `n`-node cluster (default 3); stopped and removed at the end of the run. */
export async function startRabbitCluster(n = 3): Promise<RabbitCluster> {
  const id = ++clusters;
  const epmdPort = await freePort();
  const epmd: Proc = spawnTracked("epmd", ["-port", String(epmdPort), "-address", LOOPBACK], { name: "epmd-cluster", infrastructure: true });
  onCleanup(() => void epmd.stop({ signals: ["SIGTERM", "SIGKILL"], graceMs: 2000 }));
  await waitForPort(epmdPort, { proc: epmd, timeoutMs: 10_000 });
  const cookie = randomBytes(20).toString("hex").toUpperCase();
  // One at a time: two fresh nodes booting at once on 2 cores each take longer than both in turn.
  const nodes: Rabbit[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startRabbit({ node: `vsbc${id}n${i}@localhost`, sharedEpmdPort: epmdPort, cookie }));
  const first = nodes[0]!;
  for (const node of nodes.slice(1)) {
    await node.ctl(["stop_app"]);
    await node.ctl(["join_cluster", first.node]);
    await node.ctl(["start_app"]);
    await waitForPort(node.amqpPort, { timeoutMs: 60_000 });
    await waitForPort(node.mqttPort, { timeoutMs: 60_000 });
  }
  const cluster: RabbitCluster = {
    nodes,
    amqpUrls: nodes.map((r) => r.amqpUrl),
    mqttUrls: nodes.map((r) => r.mqttUrl),
    runningNodes: async (via = first) => {
      const status = JSON.parse(await via.ctl(["cluster_status", "--formatter", "json"])) as { running_nodes: string[] };
      return status.running_nodes.sort();
    },
  };
  const running = await cluster.runningNodes();
  if (running.length !== n) throw new Error(`cluster of ${n} has ${running.length} running nodes: ${running.join(", ")}`);
  return cluster;
}
