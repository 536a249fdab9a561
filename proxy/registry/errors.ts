/** Domain errors of the registry; the API maps each to one HTTP status in one place. */

/** The dataflow or demand does not exist, or no longer does (expired, deleted). */
export class NotFoundError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotFoundError";
  }
}

/** The registry cannot take more (e.g. every UDP forward port is allocated). */
export class CapacityError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CapacityError";
  }
}

/** A store write failed (disk full, I/O error, read-only, busy); nothing was changed. Answered 503. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}
