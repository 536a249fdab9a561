/** Path parameters of the API, checked once here. */
import { HttpError } from "./http_error.ts";

/** A dataflow id from the path: a positive safe integer, else 400. */
export function dataflowId(value: string | undefined): number {
  if (value === undefined || !/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new HttpError(400, `dataflow id "${value}" must be a positive integer`);
  }
  return Number(value);
}

/** A demand id from the path: a UUID, else 400. */
export function demandId(value: string | undefined): string {
  if (value === undefined || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    throw new HttpError(400, `demand id "${value}" must be a UUID`);
  }
  return value.toLowerCase();
}
