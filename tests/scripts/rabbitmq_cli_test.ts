import { expect } from "bun:test";
import { connect } from "amqplib";
import { fileURLToPath } from "node:url";
import { skipUnless } from "../support/gst.ts";
import { isTcpPortFree } from "../support/ports.ts";
import { groupMembers, spawnTracked } from "../support/procs.ts";
import { hasRabbit } from "../support/rabbitmq.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

skipUnless(hasRabbit(), "RabbitMQ is not installed (run make setup as root)")(
  "scripts/rabbitmq.ts prints VSB_AMQP_URL and ready, serves AMQP, and stops everything on SIGINT",
  async () => {
    const cli = spawnTracked(process.execPath, ["scripts/rabbitmq.ts"], { cwd: root, name: "rabbitmq.ts" });
    await cli.waitForLine(/^ready$/, { stream: "stdout", timeoutMs: 90_000 });
    const vars = Object.fromEntries(
      cli.output("stdout").split("\n").filter((l) => l.startsWith("VSB_")).map((l) => {
        const [key, value] = l.split(/=(.*)/s);
        return [key!, value!.replace(/^'(.*)'$/, "$1")];
      }),
    );
    expect(vars.VSB_AMQP_URL).toMatch(/^amqp:\/\/guest:guest@127\.0\.0\.1:\d+$/);
    expect(vars.VSB_MQTT_URL).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const connection = await connect(vars.VSB_AMQP_URL!);
    await connection.close();

    const server = Number(vars.VSB_RABBIT_PID);
    expect(groupMembers(server).length).toBeGreaterThan(0);
    cli.child.kill("SIGINT");
    const status = await cli.exited;
    expect(status.code).toBe(130);
    expect(groupMembers(server)).toEqual([]);
    expect(await isTcpPortFree(Number(vars.VSB_AMQP_PORT))).toBe(true);
  },
  120_000,
);
