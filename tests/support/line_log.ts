// A bounded log of a child's output lines that tests can wait on.
import type { Readable } from "node:stream";

type Waiter = { pattern: RegExp | string; resolve: (line: string) => void };

/** Keeps the last `keep` lines of one stream and resolves waiters when a matching line arrives. */
export class LineLog {
  #lines: string[] = [];
  #partial = "";
  #waiters = new Set<Waiter>();
  #closed: string | undefined;
  #closeListeners = new Set<(reason: string) => void>();

  constructor(private readonly keep: number, private readonly echoPrefix?: string) {}

  /** Reads `stream` as UTF-8 text lines until it ends. */
  attach(stream: Readable): void {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const parts = (this.#partial + chunk).split("\n");
      this.#partial = parts.pop() ?? "";
      for (const line of parts) this.push(line.replace(/\r$/, ""));
    });
    stream.on("end", () => {
      if (this.#partial) this.push(this.#partial);
      this.#partial = "";
    });
  }

  /** Adds one line, echoing it and resolving the waiters it matches. */
  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.keep) this.#lines.shift();
    if (this.echoPrefix !== undefined) process.stderr.write(`${this.echoPrefix}${line}\n`);
    for (const waiter of this.#waiters) {
      if (matches(waiter.pattern, line)) {
        this.#waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  }

  /** The kept lines joined with newlines. */
  text(): string {
    return this.#lines.length ? `${this.#lines.join("\n")}\n` : "";
  }

  /** Marks the stream finished: pending waiters fail with `reason`. */
  close(reason: string): void {
    if (this.#closed !== undefined) return;
    if (this.#partial) this.push(this.#partial);
    this.#partial = "";
    this.#closed = reason;
    for (const listener of this.#closeListeners) listener(reason);
  }

  /** The first kept or future line of any of `logs` matching `pattern`. */
  static waitAny(logs: LineLog[], pattern: RegExp | string, timeoutMs: number, name: string): Promise<string> {
    for (const log of logs) {
      const seen = log.#lines.find((line) => matches(pattern, line));
      if (seen !== undefined) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const waiters: Array<[LineLog, Waiter]> = [];
      const finish = () => {
        clearTimeout(timer);
        for (const [log, waiter] of waiters) {
          log.#waiters.delete(waiter);
          log.#closeListeners.delete(onClose);
        }
      };
      const tail = () => logs.map((log) => log.text()).join("").slice(-4000);
      const onClose = (reason: string) => {
        finish();
        reject(new Error(`${reason} before printing a line matching "${pattern}"\n${tail()}`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${name} printed no line matching "${pattern}" within ${timeoutMs} ms\n${tail()}`));
      }, timeoutMs);
      for (const log of logs) {
        if (log.#closed !== undefined) return onClose(log.#closed);
        const waiter: Waiter = { pattern, resolve: (line) => (finish(), resolve(line)) };
        log.#waiters.add(waiter);
        log.#closeListeners.add(onClose);
        waiters.push([log, waiter]);
      }
    });
  }
}

function matches(pattern: RegExp | string, line: string): boolean {
  return typeof pattern === "string" ? line.includes(pattern) : pattern.test(line);
}
