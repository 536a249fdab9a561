/**
 * Runs the `gst-launch-1.0` child and keeps it running: when it exits, or writes nothing for
 * `stallMs`, it is restarted with backoff; `stop()` ends it with EOS (SIGINT, gst-launch runs
 * with `-e`), then SIGTERM, then SIGKILL. RTP packets read from its stdout go to `onPacket`.
 *
 * A clean exit (code 0, gst reached EOS) means different things per source: a live source
 * (test, v4l2, udp, rtsp) should never end, so it is restarted like a crash; a looping file
 * starts again at once; a file without `--loop` has ended, and so has the capture
 * (`endOnCleanExit()`).
 */
import { spawn } from "node:child_process";
import { maskUrl } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { Backoff } from "../backoff.ts";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";

/** Splits the child's stdout into RTP packets (RFC 4571 framing). */
export interface PacketReader {
  push(chunk: Uint8Array): void;
}

/** The parts of a child process the supervisor uses; node's `ChildProcess` has them. */
export interface GstChild {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdout: { on(event: "data", listener: (chunk: Uint8Array) => void): unknown } | null;
  readonly stderr: { on(event: "data", listener: (chunk: Uint8Array) => void): unknown } | null;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "close", listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: "close", listener: () => void): unknown;
  kill(signal: NodeJS.Signals): boolean;
}

/** Starts a child with stdout and stderr piped. */
export type SpawnGst = (command: string, argv: readonly string[]) => GstChild;

const spawnPiped: SpawnGst = (command, argv) => spawn(command, [...argv], { stdio: ["ignore", "pipe", "pipe"] });

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
  /** Restart at once (no backoff) when the child ends cleanly: a looping file; default false. */
  loop?: boolean;
  /** Grace after each stop signal; default 2000 ms. */
  graceMs?: number;
  /** Time and timers; default the real clock. */
  clock?: Clock;
  /** Starts the child; default `node:child_process` spawn. */
  spawn?: SpawnGst;
}

/** How often the stall check runs. */
const STALL_CHECK_MS = 500;

/** Supervises one gst child at a time. */
export class CaptureSupervisor {
  #o: CaptureSupervisorOptions;
  #clock: Clock;
  #child: GstChild | undefined;
  #running = false;
  #restarts = 0;
  #lastPacketAt = 0;
  #startedAt = 0;
  #watchdog: TimerHandle | undefined;
  #restartTimer: TimerHandle | undefined;
  #backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
  #stderrTail: string[] = [];
  #onEnded: (() => void) | undefined;

  constructor(options: CaptureSupervisorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Children started after the first. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Pid of the current child, if any. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * For a source that can end (a file without `--loop`): from now on a clean exit (code 0)
   * ends the capture instead of restarting it, and calls `onEnded`. A failed exit is still
   * restarted with backoff.
   */
  endOnCleanExit(onEnded: () => void): void {
    this.#onEnded = onEnded;
  }

  /** Starts the child (idempotent). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#spawn();
    this.#scheduleStallCheck();
  }

  #scheduleStallCheck(): void {
    this.#watchdog = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      this.#checkStall();
      this.#scheduleStallCheck();
    }, STALL_CHECK_MS);
  }

  #spawn(): void {
    this.#restartTimer = undefined;
    const { command, argv, log } = this.#o;
    const child = (this.#o.spawn ?? spawnPiped)(command, argv);
    this.#child = child;
    this.#startedAt = this.#lastPacketAt = this.#clock.now();
    this.#stderrTail = [];
    const reader = this.#o.createReader((packet) => {
      this.#lastPacketAt = this.#clock.now();
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

  #onExit(child: GstChild, code: number | null, signal: string | null): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    const ranMs = Math.round(this.#clock.now() - this.#startedAt);
    const fields = { code, signal, ranMs, stderr: maskUrl(this.#stderrTail.join(" | ")).slice(0, 2000) };
    if (!this.#running) {
      this.#o.log.info("gst exited", fields);
      return;
    }
    if (code === 0 && this.#onEnded) {
      this.#running = false;
      this.#clock.clearTimeout(this.#watchdog);
      this.#o.log.info("source ended", { code, ranMs });
      this.#onEnded();
      return;
    }
    if (ranMs > 30_000) this.#backoff.reset();
    const delay = this.#o.loop && code === 0 ? 0 : this.#backoff.next();
    this.#o.log.warn("gst exited", { ...fields, restartInMs: delay });
    this.#restartTimer = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      this.#restarts++;
      this.#o.onRestart?.();
      this.#spawn();
    }, delay);
  }

  #checkStall(): void {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    const silentMs = this.#clock.now() - this.#lastPacketAt;
    if (silentMs < (this.#o.stallMs ?? 5000)) return;
    this.#o.log.warn("gst stalled", { pid: child.pid, silentMs: Math.round(silentMs) });
    this.#lastPacketAt = this.#clock.now();
    child.kill("SIGKILL");
  }

  /** Stops the child: EOS (SIGINT), then SIGTERM, then SIGKILL; resolves when it is gone. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#clock.clearTimeout(this.#watchdog);
    this.#clock.clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("close", () => resolve()));
    for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
      child.kill(signal);
      let timer: TimerHandle | undefined;
      const exited = await Promise.race([
        gone.then(() => true),
        new Promise<boolean>((r) => (timer = this.#clock.setTimeout(() => r(false), this.#o.graceMs ?? 2000))),
      ]);
      this.#clock.clearTimeout(timer);
      if (exited) return;
    }
    await gone;
  }
}
