// The TLS listener lines of systemd/rabbitmq-vsb.conf, for the test broker (tests/support/rabbitmq.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The TLS block of systemd/rabbitmq-vsb.conf, uncommented, on the given listen addresses and with the
 * test certificates: the test broker runs the very lines an operator is told to uncomment.
 */
export function rabbitTlsLines(listen: { amqps: string; mqtts: string }, tls: { caFile: string; certFile: string; keyFile: string }): string[] {
  const conf = readFileSync(join(repoRoot, "systemd", "rabbitmq-vsb.conf"), "utf8");
  const block = /^# BEGIN TLS.*$([\s\S]*?)^# END TLS/m.exec(conf)?.[1];
  if (!block) throw new Error("systemd/rabbitmq-vsb.conf has no \"# BEGIN TLS\" ... \"# END TLS\" block");
  const replace: Record<string, string> = {
    "listeners.ssl.default": listen.amqps,
    "mqtt.listeners.ssl.default": listen.mqtts,
    "ssl_options.cacertfile": tls.caFile,
    "ssl_options.certfile": tls.certFile,
    "ssl_options.keyfile": tls.keyFile,
  };
  const lines = block.split("\n").filter((l) => /^#[a-z]/.test(l)).map((l) => {
    const [key, value] = l.slice(1).split(/\s*=\s*/, 2) as [string, string];
    return `${key} = ${replace[key] ?? value}`;
  });
  const missing = Object.keys(replace).filter((k) => !lines.some((l) => l.startsWith(`${k} =`)));
  if (missing.length) throw new Error(`systemd/rabbitmq-vsb.conf's TLS block lacks ${missing.join(", ")}`);
  return lines;
}
