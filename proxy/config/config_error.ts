/** The one error class of vsb-proxy's configuration (flags, env, files). */

/** A configuration value that cannot be used; its message is the one line to print. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
