/**
 * Reads and validates JSON request bodies: at most 64 KiB (413), `application/json`
 * (415), valid UTF-8 and JSON (400), no prototype-pollution keys and no absurd nesting
 * (400), then the zod schema (400 with each issue's path in `details`).
 */
import type { z } from "zod";
import { HttpError } from "./http_error.ts";

/** Largest accepted request body. */
export const BODY_LIMIT = 64 * 1024;
/** Deepest accepted JSON nesting; real metadata is 4 levels deep. */
export const MAX_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The body of `req`, at most `limit` bytes: 413 (HttpError) before reading when Content-Length
 * says more, and as soon as the bytes read pass `limit` when it lies or is absent (chunked);
 * the rest is never read.
 */
export async function readLimited(req: Request, limit = BODY_LIMIT): Promise<Uint8Array> {
  const length = req.headers.get("content-length");
  if (length !== null && Number(length) > limit) {
    throw new HttpError(413, `request body of "${length}" bytes is over the limit of ${limit}`);
  }
  // The hot path: a keep-alive has no body. A declared length within the limit is read whole
  // (the server stops at Content-Length, so it cannot grow past it; with Transfer-Encoding the
  // length does not count, RFC 9112 §6.3); otherwise stream and count.
  if (length === "0" || !req.body) return new Uint8Array(0); // "0" first: `body` makes a stream
  if (length !== null && /^\d+$/.test(length) && !req.headers.has("transfer-encoding")) return new Uint8Array(await req.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new HttpError(413, `request body is over the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** True when `req` declares an empty body (Content-Length: 0), known without reading it. */
export function declaresNoBody(req: Request): boolean {
  return req.headers.get("content-length") === "0";
}

/** Throws a 400 when `value` nests deeper than MAX_DEPTH or has a forbidden key. Iterative: no stack to blow. */
function checkShape(value: unknown): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (depth > MAX_DEPTH) throw new HttpError(400, `body nests deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(node)) {
      for (const item of node) stack.push([item, depth + 1]);
      continue;
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.has(key)) throw new HttpError(400, `body key "${key}" is not allowed`);
      stack.push([(node as Record<string, unknown>)[key], depth + 1]);
    }
  }
}

/** The parsed JSON body, or undefined when the body is empty and `optional`. */
export async function readJson(req: Request, options: { optional?: boolean } = {}): Promise<unknown> {
  const bytes = await readLimited(req);
  if (bytes.byteLength === 0) {
    if (options.optional) return undefined;
    throw new HttpError(400, "request body is empty; expected JSON");
  }
  const type = req.headers.get("content-type") ?? "";
  if (!JSON_TYPE.test(type)) throw new HttpError(415, `content type "${type}" is not application/json`);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new HttpError(400, "request body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
  checkShape(value);
  return value;
}

/** One zod issue as the API reports it. */
export interface IssueDetail {
  path: string;
  message: string;
}

/** `value` parsed by `schema`, or a 400 listing every issue with its path. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details: IssueDetail[] = result.error.issues.slice(0, 50).map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
  const first = details[0]!;
  throw new HttpError(400, `${what} is invalid at "${first.path || "(root)"}": ${first.message}`, details);
}
