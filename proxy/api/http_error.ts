/**
 * The API's one HTTP error type, and the one place where errors become `{error, details}`
 * answers (shared ErrorBody). Domain errors of the registry map to their status here.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody } from "../../shared/mod.ts";
import { logger } from "../log.ts";
import { CapacityError, NotFoundError, StoreUnavailableError } from "../registry/errors.ts";

const log = logger("api");

/** An answer with a 4xx/5xx status, a one-line message and optional details. */
export class HttpError extends Error {
  constructor(readonly status: ContentfulStatusCode, message: string, readonly details?: unknown, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpError";
  }
}

/** The `{error, details}` answer for `err` (hono's `onError`). */
export function errorResponse(err: unknown, c: Context): Response {
  let status: ContentfulStatusCode = 500;
  const body: ErrorBody = { error: "internal error" };
  if (err instanceof HttpError) {
    status = err.status;
    body.error = err.message;
    if (err.details !== undefined) body.details = err.details;
  } else if (err instanceof NotFoundError) {
    status = 404;
    body.error = err.message;
  } else if (err instanceof CapacityError) {
    status = 503;
    body.error = err.message;
  } else if (err instanceof StoreUnavailableError) {
    // Logged (once per outage) and counted by the registry's StoreWrites; nothing was changed.
    status = 503;
    body.error = err.message;
  } else {
    log.error("request failed", { method: c.req.method, path: c.req.path, error: err });
  }
  const headers: Record<string, string> = {};
  if (status === 401) headers["WWW-Authenticate"] = 'Bearer realm="vsb-proxy"';
  if (err instanceof StoreUnavailableError) headers["Retry-After"] = "5";
  return c.json(body, status, headers);
}
