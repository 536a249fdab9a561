// Certificates for TLS tests, made at test time with the `openssl` command line into a temp
// dir: a private CA, leaf certificates it signs (server and client usage, with the
// subjectAltName a client checks: IP:127.0.0.1 by default), and a second unrelated CA to show
// that a wrong trust anchor is refused. Nothing is ever checked in; keys are P-256 (fast to
// make, accepted by Bun, Deno, Node and Erlang/RabbitMQ).
import { execFileSync } from "node:child_process";
import { X509Certificate, randomBytes } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./temp_dir.ts";

/** A certificate authority: its self-signed certificate and key, as files. */
export interface TestCa {
  readonly name: string;
  /** PEM certificate: what a client passes as its CA file. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate's PEM text. */
  certPem(): string;
}

/** A leaf certificate signed by a {@link TestCa}. */
export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** Serial number as upper-case hex without separators (as `X509Certificate.serialNumber`). */
  readonly serial: string;
  /** SHA-256 fingerprint, `AA:BB:…` (as `X509Certificate.fingerprint256`). */
  readonly fingerprint256: string;
  certPem(): string;
  keyPem(): string;
}

/** Options of {@link issueCert}. */
export interface IssueOptions {
  /** Common name; default the first IP or DNS name. */
  commonName?: string;
  /** subjectAltName IP entries; default ["127.0.0.1"] (none when `dns` is given and `ips` is not). */
  ips?: string[];
  /** subjectAltName DNS entries; default none. */
  dns?: string[];
  /** Validity in days; default 2. */
  days?: number;
}

/** Everything a typical TLS test needs, in one temp dir removed at the end of the run. */
export interface TestPki {
  readonly dir: string;
  /** The CA that signed `server`. */
  readonly ca: TestCa;
  /** A server (and client) certificate for 127.0.0.1, signed by `ca`. */
  readonly server: TestCert;
  /** A CA that signed nothing here: trusting only it must make the handshake fail. */
  readonly otherCa: TestCa;
  /** Issues one more leaf certificate from `ca` (e.g. a replacement for a reload test). */
  issue(name: string, options?: IssueOptions): TestCert;
  remove(): void;
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(error)}`);
  }
}

function newKey(keyFile: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
  chmodSync(keyFile, 0o600);
}

/** Makes a self-signed CA `${dir}/${name}.crt` + `.key`, valid for two days. */
export function makeCa(dir: string, name: string): TestCa {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  newKey(keyFile);
  openssl([
    "req", "-x509", "-new", "-key", keyFile, "-out", certFile, "-days", "2", "-subj", `/CN=vsb test ${name}`,
    "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-addext", "subjectKeyIdentifier=hash",
  ]);
  return { name, certFile, keyFile, certPem: () => readFileSync(certFile, "utf8") };
}

/** Issues `${dir}/${name}.crt` + `.key` from `ca`, usable as a TLS server and client certificate. */
export function issueCert(ca: TestCa, dir: string, name: string, options: IssueOptions = {}): TestCert {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  const ips = options.ips ?? (options.dns ? [] : ["127.0.0.1"]);
  const dns = options.dns ?? [];
  const san = [...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)];
  if (san.length === 0) throw new Error(`issueCert("${name}"): give at least one IP or DNS name`);
  const commonName = options.commonName ?? ips[0] ?? dns[0]!;
  newKey(keyFile);
  openssl(["req", "-new", "-key", keyFile, "-out", csrFile, "-subj", `/CN=${commonName}`]);
  writeFileSync(extFile, [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth,clientAuth",
    `subjectAltName=${san.join(",")}`,
    "authorityKeyIdentifier=keyid",
    "",
  ].join("\n"));
  openssl([
    "x509", "-req", "-in", csrFile, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-out", certFile,
    "-days", String(options.days ?? 2), "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-extfile", extFile,
  ]);
  const x509 = new X509Certificate(readFileSync(certFile));
  return {
    certFile,
    keyFile,
    serial: x509.serialNumber.toUpperCase(),
    fingerprint256: x509.fingerprint256,
    certPem: () => readFileSync(certFile, "utf8"),
    keyPem: () => readFileSync(keyFile, "utf8"),
  };
}

/** A CA, a 127.0.0.1 server certificate it signed, and an unrelated second CA, in a fresh temp dir. */
export function makeTestPki(prefix = "vsb-pki-"): TestPki {
  const temp = tempDir(prefix);
  const ca = makeCa(temp.path, "ca");
  const server = issueCert(ca, temp.path, "server");
  const otherCa = makeCa(temp.path, "other-ca");
  return {
    dir: temp.path,
    ca,
    server,
    otherCa,
    issue: (name, options) => issueCert(ca, temp.path, name, options),
    remove: temp.remove,
  };
}
