/**
 * The TLS files of vsb-proxy's configuration: --tls-cert/--tls-key of the HTTPS listener (read
 * at start and again on SIGHUP) and --amqp-ca-file/--amqp-cert-file/--amqp-key-file of the broker
 * connection. Each failure is a one-line ConfigError naming the flag and the file.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { maskUrl } from "../../shared/mod.ts";
import { type PemKind, readPem as readPemFile } from "../../shared/runtime/read_pem.ts";
import { ConfigError } from "./config_error.ts";
import type { Config, ReadText } from "./load_config.ts";

/** TLS material for the broker connection, as amqplib's socket options take it. */
export interface BrokerTls {
  ca?: string[];
  cert?: string;
  key?: string;
}

/** Certificate and key of the HTTPS listener, as PEM text. */
export interface ListenTls {
  cert: string;
  key: string;
  /** Of the (first) certificate, for the log: subject, expiry (ISO 8601) and SHA-256 fingerprint. */
  subject: string;
  validTo: string;
  fingerprint256: string;
}

/** The text of the PEM file `path` given by `flag`; a ConfigError naming both when unreadable or not PEM. */
function readPem(flag: string, path: string, kind: PemKind, readText: ReadText): string {
  return readPemFile(flag, path, { kind, read: readText, error: (message) => new ConfigError(message) });
}

/**
 * Reads --tls-cert/--tls-key (at start and again on SIGHUP); undefined when neither is given.
 * Throws a one-line ConfigError naming the flag when a file is missing, unreadable or not PEM.
 */
export function readListenTls(config: Pick<Config, "tlsCert" | "tlsKey">, readText: ReadText): ListenTls | undefined {
  const { tlsCert, tlsKey } = config;
  if (!tlsCert && !tlsKey) return undefined;
  if (!tlsCert || !tlsKey) throw new ConfigError("--tls-cert and --tls-key must be given together");
  const cert = readPem("--tls-cert", tlsCert, "CERTIFICATE", readText);
  const key = readPem("--tls-key", tlsKey, "PRIVATE KEY", readText);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`--tls-cert "${tlsCert}" is not a valid certificate: ${(err as Error).message}`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new ConfigError(`--tls-key "${tlsKey}" is not a valid private key: ${(err as Error).message}`);
  }
  if (!matches) throw new ConfigError(`--tls-key "${tlsKey}" is not the key of --tls-cert "${tlsCert}"`);
  return { cert, key, subject: x509.subject.replace(/\n/g, ", "), validTo: new Date(x509.validTo).toISOString(), fingerprint256: x509.fingerprint256 };
}

/** Reads --amqp-ca-file/--amqp-cert-file/--amqp-key-file; undefined when none is given. */
export function readBrokerTls(config: Pick<Config, "amqpCaFile" | "amqpCertFile" | "amqpKeyFile" | "amqpUrls">, readText: ReadText): BrokerTls | undefined {
  const { amqpCaFile, amqpCertFile, amqpKeyFile } = config;
  if (!amqpCaFile && !amqpCertFile && !amqpKeyFile) return undefined;
  const plain = config.amqpUrls.find((url) => !amqpUrlIsTls(url));
  if (plain) throw new ConfigError(`--amqp-ca-file, --amqp-cert-file and --amqp-key-file need an amqps:// --amqp-url, not "${maskUrl(plain)}"`);
  if (Boolean(amqpCertFile) !== Boolean(amqpKeyFile)) throw new ConfigError("--amqp-cert-file and --amqp-key-file must be given together");
  return {
    ca: amqpCaFile ? [readPem("--amqp-ca-file", amqpCaFile, "CERTIFICATE", readText)] : undefined,
    cert: amqpCertFile ? readPem("--amqp-cert-file", amqpCertFile, "CERTIFICATE", readText) : undefined,
    key: amqpKeyFile ? readPem("--amqp-key-file", amqpKeyFile, "PRIVATE KEY", readText) : undefined,
  };
}

function amqpUrlIsTls(url: string): boolean {
  return /^amqps:/i.test(url);
}
