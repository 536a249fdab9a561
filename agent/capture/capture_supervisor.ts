/**
 * Runs the `gst-launch-1.0` child and keeps it running: when it exits, or writes nothing for
 * `stallMs`, it is restarted with backoff; `stop()` ends it with EOS (SIGINT, gst-launch runs
 * with `-e`), then SIGTERM, then SIGKILL. RTP packets read from its stdout go to `onPacket`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "../log.ts";
import { Backoff } from "../backoff.ts";

/** Splits the child's stdout into RTP packets (RFC 4571 framing). */
export interface PacketReader {
  push(chunk: Uint8Array): void;
}

/** Options of {@link CaptureSupervisor}. */
export interface CaptureSupervisorOptions {
  command: string;
  argv: readonly string[];
  log: Logger;
  /** Makes a fresh reader for each child; it calls `onPacket` per packet. */
  createReader: (onPacket: (packet: Uint8Array) => void) => PacketReader;
  onPacket: (packet: Uint8Array) => void;
  /** Called when a new child starts (after the first). */
  onRestart?: () => void;
  /** Restart when no packet came for this long; default 5000 ms. */
  stallMs?: number;
  /** Restart at once (no backoff) when the child ends cleanly, e.g. a looping file; default false. */
  loop?: boolean;
  /** Grace after each stop signal; default 2000 ms. */
  graceMs?: number;
}

/** Supervises one gst child at a time. */
export class CaptureSupervisor {
  #o: CaptureSupervisorOptions;
  #child: ChildProcess | undefined;
  #running = false;
  #restarts = 0;
  #lastPacketAt = 0;
  #startedAt = 0;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
  #stderrTail: string[] = [];

  constructor(options: CaptureSupervisorOptions) {
    this.#o = options;
  }

  /** Children started after the first. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Pid of the current child, if any. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the child (idempotent). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#spawn();
    this.#watchdog = setInterval(() => this.#checkStall(), 500);
  }

  #spawn(): void {
    this.#restartTimer = undefined;
    const { command, argv, log } = this.#o;
    const child = spawn(command, [...argv], { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#startedAt = this.#lastPacketAt = performance.now();
    this.#stderrTail = [];
    const reader = this.#o.createReader((packet) => {
      this.#lastPacketAt = performance.now();
      this.#o.onPacket(packet);
    });
    child.stdout!.on("data", (chunk: Uint8Array) => reader.push(chunk));
    child.stderr!.on("data", (chunk: Uint8Array) => this.#keepStderr(chunk));
    child.on("error", (error) => log.error("gst failed to start", { command, error }));
    child.on("close", (code, signal) => this.#onExit(child, code, signal));
    log.info("gst started", { pid: child.pid, restarts: this.#restarts });
  }

  #keepStderr(chunk: Uint8Array): void {
    const lines = new TextDecoder().decode(chunk).split("\n").filter((l) => l.trim().length > 0);
    this.#stderrTail.push(...lines);
    if (this.#stderrTail.length > 10) this.#stderrTail.splice(0, this.#stderrTail.length - 10);
  }

  #onExit(child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    const ranMs = Math.round(performance.now() - this.#startedAt);
    const fields = { code, signal, ranMs, stderr: this.#stderrTail.join(" | ").slice(0, 2000) };
    if (!this.#running) {
      this.#o.log.info("gst exited", fields);
      return;
    }
    if (ranMs > 30_000) this.#backoff.reset();
    const delay = this.#o.loop && code === 0 ? 0 : this.#backoff.next();
    this.#o.log.warn("gst exited", { ...fields, restartInMs: delay });
    this.#restartTimer = setTimeout(() => {
      if (!this.#running) return;
      this.#restarts++;
      this.#o.onRestart?.();
      this.#spawn();
    }, delay);
  }

  #checkStall(): void {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const silentMs = performance.now() - this.#lastPacketAt;
    if (silentMs < (this.#o.stallMs ?? 5000)) return;
    this.#o.log.warn("gst stalled", { pid: child.pid, silentMs: Math.round(silentMs) });
    this.#lastPacketAt = performance.now();
    child.kill("SIGKILL");
  }

  /** Stops the child: EOS (SIGINT), then SIGTERM, then SIGKILL; resolves when it is gone. */
  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#watchdog);
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("close", () => resolve()));
    for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
      child.kill(signal);
      const exited = await Promise.race([
        gone.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), this.#o.graceMs ?? 2000)),
      ]);
      if (exited) return;
    }
    await gone;
  }
}
