// A local RabbitMQ for `make demo` (and for trying vsb by hand), started by the same code the
// tests use (tests/support/rabbitmq.ts): its own temp dir and epmd, 127.0.0.1, free ports, MQTT on.
//
//   bun scripts/rabbitmq.ts
//
// Prints shell assignments (VSB_AMQP_URL=…, VSB_MQTT_URL=…, …) and then a line "ready" on
// stdout, runs until SIGINT/SIGTERM/SIGHUP (or the broker dies), then stops the broker and its
// epmd by pid and removes the temp dir.
import { cleanupAll, cleanupAllSync } from "../tests/support/procs.ts";
import { startRabbit } from "../tests/support/rabbitmq.ts";

function logLine(fields: Record<string, unknown>) {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

let stopping = false;
async function shutdown(reason: string, code: number) {
  if (stopping) return;
  stopping = true;
  logLine({ level: "info", msg: "stopping rabbitmq", reason });
  try {
    await cleanupAll();
  } catch (error) {
    logLine({ level: "error", msg: "cleanup failed", error: String(error) });
    code = code || 1;
  }
  process.exit(code);
}

process.on("exit", () => cleanupAllSync());
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  process.on(signal, () => void shutdown(signal, code));
}

const started = Date.now();
try {
  const rabbit = await startRabbit();
  logLine({ level: "info", msg: "rabbitmq ready", ms: Date.now() - started, pid: rabbit.pid(), dir: rabbit.dir });
  const quote = (value: string | number) => `'${String(value).replaceAll("'", "'\\''")}'`;
  process.stdout.write([
    `VSB_AMQP_URL=${quote(rabbit.amqpUrl)}`,
    `VSB_MQTT_URL=${quote(rabbit.mqttUrl)}`,
    `VSB_AMQP10_URL=${quote(rabbit.amqp10Url)}`,
    `VSB_AMQP_PORT=${rabbit.amqpPort}`,
    `VSB_MQTT_PORT=${rabbit.mqttPort}`,
    `VSB_RABBIT_PID=${rabbit.pid()}`,
    `VSB_RABBIT_DIR=${quote(rabbit.dir)}`,
    "ready",
    "",
  ].join("\n"));
  const server = rabbit.pid();
  // Exit (and clean up) if the broker dies, so the caller notices.
  setInterval(() => {
    if (rabbit.pid() !== server) void shutdown("rabbitmq exited", 1);
  }, 500);
} catch (error) {
  logLine({ level: "error", msg: "rabbitmq did not start", error: String(error) });
  await shutdown("start failed", 1);
}
