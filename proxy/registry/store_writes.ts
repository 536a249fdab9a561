/**
 * Every write the registry makes to the store goes through here. A failing write (disk full,
 * I/O error, read-only file system, SQLITE_BUSY past its timeout) becomes a
 * {@link StoreUnavailableError} for a request (answered 503) or a logged, counted miss for a
 * timer, so nothing throws out of the event loop and live streams go on. The store counts as
 * healthy while its last write succeeded; `/ready` says 503 otherwise, and the registry's
 * sweep probes it so that it recovers by itself when the disk does. Writes are awaited (the
 * store may be SQLite in this process or PostgreSQL over the network): the registry changes its
 * memory only after the write resolved.
 */
import type { Logger } from "../log.ts";
import { PortsExhaustedError } from "../store/store.ts";
import { StoreUnavailableError } from "./errors.ts";

/** The guard of the store's writes; one per registry. */
export class StoreWrites {
  /** Failed writes by operation, for `vsb_store_errors_total{op}`. */
  readonly errors = new Map<string, number>();
  #failing = false;
  /** Operations already logged in this outage (one error line each, not one per attempt). */
  readonly #logged = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** False from a failed write until the next successful one. */
  get healthy(): boolean {
    return !this.#failing;
  }

  /** Runs write `op`; a failure is counted, logged once per outage and thrown as StoreUnavailableError. */
  async run<T>(op: string, write: () => T | Promise<T>): Promise<T> {
    let out: T;
    try {
      out = await write();
    } catch (error) {
      if (error instanceof PortsExhaustedError) throw error; // a full range, not a broken store
      this.#failed(op, error);
      throw new StoreUnavailableError(`the registration store could not be written (${op}): ${messageOf(error)}`, { cause: error });
    }
    this.#succeeded();
    return out;
  }

  /**
   * Runs read `op`; a failure is counted and thrown as StoreUnavailableError (503), but a read
   * that succeeds says nothing about writes, so it does not mark the store healthy again.
   */
  async read<T>(op: string, read: () => T | Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      this.errors.set(op, (this.errors.get(op) ?? 0) + 1);
      throw new StoreUnavailableError(`the registration store could not be read (${op}): ${messageOf(error)}`, { cause: error });
    }
  }

  /** Runs write `op` for a timer: true when it succeeded, false (counted and logged) when not. */
  async attempt(op: string, write: () => unknown): Promise<boolean> {
    try {
      await this.run(op, write);
      return true;
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) this.log.error("store write failed", { op, error });
      return false;
    }
  }

  #failed(op: string, error: unknown): void {
    this.errors.set(op, (this.errors.get(op) ?? 0) + 1);
    if (!this.#failing) this.log.error("store unavailable", { op, error });
    else if (!this.#logged.has(op)) this.log.warn("store write failed", { op, error });
    this.#failing = true;
    this.#logged.add(op);
  }

  #succeeded(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.log.info("store available again", { failed: Object.fromEntries(this.errors) });
    this.#logged.clear();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
