// Preloaded by bunfig.toml for every `bun test` run: makes sure every process a test started
// (RabbitMQ, epmd, gst-launch-1.0, the proxy, the agent, Chromium) is stopped by pid when the
// run ends — normally, on Ctrl-C, or on process.exit(). Starts nothing by itself.
import { afterAll } from "bun:test";
import { releasePorts } from "./ports.ts";
import { cleanupAll, cleanupAllSync } from "./procs.ts";

// Timeouts are not set here: setDefaultTimeout() in a preload only reaches the first test
// file. `make test` passes --timeout 120000; end-to-end tests pass their own timeout.

afterAll(async () => {
  try {
    await cleanupAll();
  } finally {
    releasePorts();
  }
});

process.on("exit", () => cleanupAllSync());

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    cleanupAll()
      .catch((error) => console.error(`cleanup after ${signal} failed: ${error}`))
      .finally(() => process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1)));
  });
}
