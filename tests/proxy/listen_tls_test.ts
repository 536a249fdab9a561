// HTTPS on the proxy's listener, without the rest of the proxy: loadConfig() reads and checks
// --tls-cert/--tls-key (one line naming the flag; a key of another certificate is refused),
// derivePublicUrl() says https, and proxy/runtime.ts's serve() answers over TLS with a
// certificate made at test time, swaps it on reloadTls() while a connection opened before goes
// on with the old one, and still refuses a port that is already in use (SO_REUSEPORT, which
// the reload needs, must not let two proxies share a port).
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { ConfigError, type Config, loadConfig, shownConfig } from "../../proxy/config/load_config.ts";
import { derivePublicUrl } from "../../proxy/proxy.ts";
import { serve, type Server } from "../../proxy/runtime.ts";
import { errorOf as configErrorOf } from "../support/error_of.ts";
import { makeTestPki } from "../support/test_ca.ts";

const pki = makeTestPki("vsb-listen-tls-");
const other = pki.issue("other");
const read = (path: string) => readFileSync(path, "utf8");
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  pki.remove();
});

function load(args: string[]): Config {
  const result = loadConfig(["--listen", "127.0.0.1:0", ...args], {}, read);
  if (result.kind !== "run") throw new Error("expected a config");
  return result.config;
}

const errorOf = (fn: () => unknown) => configErrorOf(fn, ConfigError);

/** The serial number of the certificate a new TLS connection to `port` gets, trusting the test CA only. */
function peerSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: pki.ca.certPem(), servername: undefined }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.end();
    });
    socket.on("error", reject);
  });
}

describe("--tls-cert / --tls-key", () => {
  test("are read at load, never printed, and make the derived public URL https", () => {
    const config = load(["--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile]);
    expect(config.listenTls?.cert).toBe(pki.server.certPem());
    expect(config.listenTls?.fingerprint256).toBe(pki.server.fingerprint256);
    expect(shownConfig(config)).not.toContain("PRIVATE KEY");
    expect(derivePublicUrl(config, 8443)).toBe("https://127.0.0.1:8443");
    expect(derivePublicUrl(load([]), 8080)).toBe("http://127.0.0.1:8080");
  });

  test("bad files are one line naming the flag; a key of another certificate is refused", () => {
    expect(errorOf(() => load(["--tls-cert", pki.server.certFile]))).toBe("--tls-cert and --tls-key must be given together");
    expect(errorOf(() => load(["--tls-cert", "/nope.crt", "--tls-key", pki.server.keyFile]))).toMatch(/^--tls-cert "\/nope.crt" could not be read: /);
    expect(errorOf(() => load(["--tls-cert", pki.server.keyFile, "--tls-key", pki.server.keyFile])))
      .toBe(`--tls-cert "${pki.server.keyFile}" holds no PEM certificate (-----BEGIN ...CERTIFICATE-----)`);
    expect(errorOf(() => load(["--tls-cert", pki.server.certFile, "--tls-key", other.keyFile])))
      .toBe(`--tls-key "${other.keyFile}" is not the key of --tls-cert "${pki.server.certFile}"`);
  });
});

describe("serve() with TLS", () => {
  test("answers HTTPS, reloads its certificate for new connections, keeps an open one on the old", async () => {
    const server = serve({
      hostname: "127.0.0.1", port: 0, tls: { cert: pki.server.certPem(), key: pki.server.keyPem() },
      fetch: () => new Response("ok"),
    });
    servers.push(server);
    expect(server.tls).toBe(true);
    const url = `https://127.0.0.1:${server.port}/`;
    const res = await fetch(url, { tls: { ca: pki.ca.certPem() } } as RequestInit);
    expect(await res.text()).toBe("ok");
    expect(await peerSerial(server.port)).toBe(pki.server.serial);

    // A keep-alive connection opened before the reload…
    const before = tls.connect({ host: "127.0.0.1", port: server.port, ca: pki.ca.certPem() });
    await new Promise<void>((resolve, reject) => before.once("secureConnect", resolve).once("error", reject));
    server.reloadTls({ cert: other.certPem(), key: other.keyPem() });
    // …new connections get the new certificate (every one of them: the old listener no longer accepts)…
    for (let i = 0; i < 20; i++) expect(await peerSerial(server.port)).toBe(other.serial);
    // …and the old connection still gets answers.
    const answer = new Promise<string>((resolve, reject) => {
      let text = "";
      before.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes("\r\n\r\nok")) resolve(text);
      });
      before.once("error", reject);
    });
    before.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(await answer).toStartWith("HTTP/1.1 200");
    before.destroy();
  });

  test("a port already in use is refused, as with plain HTTP", () => {
    const first = serve({
      hostname: "127.0.0.1", port: 0, tls: { cert: pki.server.certPem(), key: pki.server.keyPem() },
      fetch: () => new Response("first"),
    });
    servers.push(first);
    expect(() => serve({
      hostname: "127.0.0.1", port: first.port, tls: { cert: pki.server.certPem(), key: pki.server.keyPem() },
      fetch: () => new Response("second"),
    })).toThrow(/in use|EADDRINUSE/i);
    const plain = serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("plain") });
    servers.push(plain);
    expect(() => plain.reloadTls({ cert: pki.server.certPem(), key: pki.server.keyPem() })).toThrow(/plain HTTP/);
  });
});
