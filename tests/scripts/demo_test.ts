import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { hasCommand, skipUnless } from "../support/gst.ts";
import { freePort, isTcpPortFree } from "../support/ports.ts";
import { groupMembers, spawnTracked } from "../support/procs.ts";
import { hasRabbit } from "../support/rabbitmq.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

skipUnless(hasRabbit() && hasCommand("curl"), "make demo needs RabbitMQ and curl (run make setup as root)")(
  "scripts/demo.sh registers a dataflow, prints the API URL, and Ctrl-C stops RabbitMQ and the proxy",
  async () => {
    const port = await freePort();
    const demo = spawnTracked("bash", ["scripts/demo.sh"], { cwd: root, name: "demo", env: { PORT: String(port) } });
    await demo.waitForLine("Press Ctrl-C to stop.", { timeoutMs: 100_000 });
    const out = demo.output("stdout");
    expect(out).toContain(`API            http://127.0.0.1:${port}`);
    const registered = JSON.parse(out.match(/registered +(\{.*\})/)![1]!);
    const id: unknown = registered.id;
    expect(Number.isInteger(id)).toBe(true);
    expect(registered.send).toBe(false);
    const listed = await (await fetch(`http://127.0.0.1:${port}/dataflows/${id}`)).json();
    expect(listed.id).toBe(id);
    expect(listed.active).toBe(true);
    const work = out.match(/logs +(\S+)\/proxy\.log/)![1]!;

    // Ctrl-C in a terminal reaches the whole process group.
    process.kill(-demo.pid, "SIGINT");
    const status = await demo.exited;
    expect(status.code).toBe(130);
    expect(groupMembers(demo.pid)).toEqual([]);
    expect(await isTcpPortFree(port)).toBe(true);
    expect(existsSync(work)).toBe(false);
  },
  150_000,
);
