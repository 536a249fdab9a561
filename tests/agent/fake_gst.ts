// A fake gst-launch child for CaptureSupervisor tests: no process, the test decides when it
// writes, exits or is killed.
import { EventEmitter } from "node:events";
import type { GstChild, SpawnGst } from "../../agent/capture/capture_supervisor.ts";

/** One fake child; `exit(code)` makes it close as a real one would. */
export class FakeGstChild extends EventEmitter implements GstChild {
  static #nextPid = 1000;
  readonly pid = FakeGstChild.#nextPid++;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  readonly signals: NodeJS.Signals[] = [];

  /** Writes `bytes` to stdout. */
  write(bytes: Uint8Array): void {
    this.stdout.emit("data", bytes);
  }

  /** Ends with `code` (or by `signal`), emitting "close". */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit("close", code, signal);
  }

  /** Signals it does not die of (SIGKILL always works). */
  ignores = new Set<NodeJS.Signals>();

  /** Like gst-launch -e: SIGINT is EOS (exit 0), SIGTERM and SIGKILL kill it. */
  kill(signal: NodeJS.Signals): boolean {
    this.signals.push(signal);
    if (signal !== "SIGKILL" && this.ignores.has(signal)) return true;
    queueMicrotask(() => (signal === "SIGINT" ? this.exit(0) : this.exit(null, signal)));
    return true;
  }
}

/** A spawn function that records every child it "starts". */
export function fakeSpawn(): { spawn: SpawnGst; children: FakeGstChild[] } {
  const children: FakeGstChild[] = [];
  return {
    children,
    spawn: () => {
      const child = new FakeGstChild();
      children.push(child);
      return child;
    },
  };
}
