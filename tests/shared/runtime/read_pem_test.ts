// readPem(): the TLS file check of both config loaders, one line naming the flag and the file.
import { describe, expect, test } from "bun:test";
import { readPem } from "../../../shared/runtime/read_pem.ts";

class TestConfigError extends Error {}
const files: Record<string, string> = {
  "/ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  "/key.pem": "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n",
};
const read = (path: string) => {
  const text = files[path];
  if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  return text;
};
const error = (message: string) => new TestConfigError(message);

describe("readPem()", () => {
  test("returns the text of a file holding the PEM kind, any key type", () => {
    expect(readPem("--tls-cert", "/ca.pem", { kind: "CERTIFICATE", read, error })).toBe(files["/ca.pem"]!);
    expect(readPem("--tls-key", "/key.pem", { kind: "PRIVATE KEY", read, error })).toContain("EC PRIVATE KEY");
  });

  test("throws the program's error, one line naming the flag and file, when unreadable", () => {
    const attempt = () => readPem("--mqtt-ca-file", "/missing.pem", { kind: "CERTIFICATE", read, error });
    expect(attempt).toThrow(TestConfigError);
    expect(attempt).toThrow('--mqtt-ca-file "/missing.pem" could not be read: ENOENT');
  });

  test("throws when the file holds another kind or no PEM at all", () => {
    expect(() => readPem("--tls-key", "/ca.pem", { kind: "PRIVATE KEY", read, error })).toThrow(
      '--tls-key "/ca.pem" holds no PEM private key (-----BEGIN ...PRIVATE KEY-----)',
    );
    files["/junk"] = "hello";
    expect(() => readPem("--amqp-ca-file", "/junk", { kind: "CERTIFICATE", read, error })).toThrow(TestConfigError);
  });
});
