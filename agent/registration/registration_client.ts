/**
 * Client of the MEC's registration API (DESIGN.md steps 3–6): register a dataflow, keep it
 * alive, delete it. Answers are validated with the shared schemas.
 */
import {
  type DataflowMetadataInput,
  type Keepalive,
  KeepaliveSchema,
  PATH,
  type Registration,
  RegistrationSchema,
  ROUTE,
} from "../../shared/mod.ts";

/** The API answered with an unexpected status (or not at all). */
export class RegistrationHttpError extends Error {
  override name = "RegistrationHttpError";
  constructor(message: string, readonly status?: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The MEC no longer knows the dataflow (404 on keep-alive): register again. */
export class DataflowGoneError extends Error {
  override name = "DataflowGoneError";
}

/** Options of {@link RegistrationClient}. */
export interface RegistrationClientOptions {
  /** Bearer token for the API, when it needs one. */
  token?: string;
  /** Per-request timeout; default 5000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Talks to one registration API base URL. */
export class RegistrationClient {
  readonly baseUrl: string;
  #o: RegistrationClientOptions;

  constructor(baseUrl: string, options: RegistrationClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.#o = options;
  }

  async #call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.#o.token) headers.authorization = `Bearer ${this.#o.token}`;
    let response: Response;
    try {
      response = await (this.#o.fetch ?? fetch)(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 5000),
      });
    } catch (error) {
      throw new RegistrationHttpError(`${method} "${url}" failed`, undefined, { cause: error });
    }
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: response.status, json };
  }

  #fail(method: string, path: string, status: number, json: unknown): never {
    const detail = typeof json === "object" && json !== null && "error" in json ? String((json as { error: unknown }).error) : "";
    throw new RegistrationHttpError(`${method} "${this.baseUrl}${path}" answered ${status}${detail ? `: ${detail}` : ""}`, status);
  }

  /** `POST /dataflows` → id, topic, routing key, send, keep-alive period, WHIP ingest and UDP forward. */
  async register(metadata: DataflowMetadataInput): Promise<Registration> {
    const { status, json } = await this.#call("POST", ROUTE.dataflows, metadata);
    if (status !== 201 && status !== 200) this.#fail("POST", ROUTE.dataflows, status, json);
    const parsed = RegistrationSchema.safeParse(json);
    if (!parsed.success) throw new RegistrationHttpError(`POST "${this.baseUrl}${ROUTE.dataflows}" answered an unexpected body`, status);
    return parsed.data;
  }

  /** `PUT /dataflows/{id}` (keep-alive, optionally with updated metadata). */
  async keepalive(id: number, metadata?: DataflowMetadataInput): Promise<Keepalive> {
    const path = PATH.dataflow(id);
    const { status, json } = await this.#call("PUT", path, metadata);
    if (status === 404 || status === 410) throw new DataflowGoneError(`dataflow ${id} is unknown to "${this.baseUrl}"`);
    if (status !== 200) this.#fail("PUT", path, status, json);
    const parsed = KeepaliveSchema.safeParse(json);
    if (!parsed.success) throw new RegistrationHttpError(`PUT "${this.baseUrl}${path}" answered an unexpected body`, status);
    return parsed.data;
  }

  /** `DELETE /dataflows/{id}`; a dataflow already gone counts as deleted. */
  async remove(id: number): Promise<void> {
    const path = PATH.dataflow(id);
    const { status, json } = await this.#call("DELETE", path);
    if (status >= 300 && status !== 404) this.#fail("DELETE", path, status, json);
  }
}
