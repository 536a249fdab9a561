/**
 * The PEM file check both programs' config loaders make for their TLS flags (the agent's
 * --mqtt-ca-file/--proxy-ca-file/…, the proxy's --tls-cert/--amqp-ca-file/…): readable, and
 * holding a `-----BEGIN …<kind>-----` block, or one line naming the flag and the file.
 */

/** What a PEM file must hold. */
export type PemKind = "CERTIFICATE" | "PRIVATE KEY";

/** Options of {@link readPem}. */
export interface ReadPemOptions {
  /** What the file must hold. */
  kind: PemKind;
  /** Reads a file as text (the loaders inject it; tests pass fixtures). */
  read: (path: string) => string;
  /** Makes the program's config error (exit 2) from a one-line message. */
  error: (message: string) => Error;
}

/** The text of the PEM file `path` given by `flag`; throws `options.error(...)` when unreadable or not PEM. */
export function readPem(flag: string, path: string, options: ReadPemOptions): string {
  let text: string;
  try {
    text = options.read(path);
  } catch (error) {
    throw options.error(`${flag} "${path}" could not be read: ${(error as Error).message}`);
  }
  const kind = options.kind;
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) {
    throw options.error(`${flag} "${path}" holds no PEM ${kind.toLowerCase()} (-----BEGIN ...${kind}-----)`);
  }
  return text;
}
