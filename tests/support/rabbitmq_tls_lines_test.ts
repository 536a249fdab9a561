import { describe, expect, test } from "bun:test";
import { rabbitTlsLines } from "./rabbitmq_tls_lines.ts";

describe("rabbitTlsLines()", () => {
  test("uncomments systemd/rabbitmq-vsb.conf's TLS block with the given listeners and files, other keys verbatim", () => {
    const lines = rabbitTlsLines({ amqps: "127.0.0.1:1", mqtts: "127.0.0.1:2" }, { caFile: "/c", certFile: "/s.crt", keyFile: "/s.key" });
    expect(lines).toContain("listeners.ssl.default = 127.0.0.1:1");
    expect(lines).toContain("mqtt.listeners.ssl.default = 127.0.0.1:2");
    expect(lines).toContain("ssl_options.cacertfile = /c");
    expect(lines).toContain("ssl_options.keyfile = /s.key");
    expect(lines).toContain("ssl_options.verify = verify_peer");
    expect(lines.every((l) => !l.startsWith("#"))).toBe(true);
  });
});
