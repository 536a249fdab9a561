/**
 * Where vsb-consume writes frames: stdout (`--out -`), one file, one file per dataflow (`{id}` in
 * the name), or nowhere (no `--out`: only the statistics). Stdout gets video only when asked:
 * guessing from "stdout is not a terminal" put H.264 into logs and CI output (`make demo > log`). Each dataflow's output
 * starts at its first keyframe, so what is written decodes from byte 0; the frames it writes are
 * what `--frames N` counts.
 */
import { createWriteStream } from "node:fs";

/** Something frames are written to (a file stream, or stdout). */
export interface ByteSink {
  /** `done` runs once the chunk (and all before it) is handed to the OS. */
  write(chunk: Uint8Array, done?: () => void): unknown;
  end(done: () => void): unknown;
}

/** Options of {@link FrameSink}; each field documents its default. */
export interface FrameSinkOptions {
  /** `--out`: a path (with `{id}` for one file per dataflow), `-` for stdout, or undefined (nowhere). */
  out: string | undefined;
  /** Standard output. Default `process.stdout`. */
  stdout?: ByteSink;
  /** Opens a file for writing. Default `fs.createWriteStream`. */
  open?: (path: string) => ByteSink;
}

/** Frames → bytes; see the file comment. */
export class FrameSink {
  /** Frames written (or taken, when writing nowhere), from each dataflow's first keyframe on. */
  written = 0;
  /** Frames that came before their dataflow's first keyframe, written nowhere. */
  skipped = 0;
  /** The `--out` given: a path, `-` for stdout, or undefined (frames written nowhere). */
  readonly out: string | undefined;
  readonly #files = new Map<number, ByteSink>();
  readonly #started = new Set<number>();
  readonly #stdout: ByteSink;
  readonly #open: (path: string) => ByteSink;

  constructor(options: FrameSinkOptions) {
    this.out = options.out;
    this.#stdout = options.stdout ?? process.stdout;
    this.#open = options.open ?? ((path) => createWriteStream(path));
  }

  /** Writes one frame; false when it was skipped (before its dataflow's first keyframe). */
  write(dataflowId: number, body: Uint8Array, keyframe: boolean): boolean {
    if (!this.#started.has(dataflowId)) {
      if (!keyframe) {
        this.skipped++;
        return false;
      }
      this.#started.add(dataflowId);
    }
    this.written++;
    if (!this.out) return true;
    if (this.out === "-") {
      this.#stdout.write(body);
      return true;
    }
    let file = this.#files.get(dataflowId);
    if (!file) {
      if (this.#files.size > 0 && !this.out.includes("{id}")) {
        throw new Error(`--out "${this.out}" has no {id} but frames of several dataflows arrived; add {id} to the name`);
      }
      file = this.#open(this.out.replaceAll("{id}", String(dataflowId)));
      this.#files.set(dataflowId, file);
    }
    file.write(body);
    return true;
  }

  /**
   * Every dataflow waits for its next keyframe again (after frames were lost, e.g. a broker
   * node died): what follows in its output still decodes, and the frames before are skipped.
   */
  resync(): void {
    this.#started.clear();
  }

  /** Flushes and closes the files (stdout is flushed, not closed). */
  async close(): Promise<void> {
    const files = [...this.#files.values()].map((f) => new Promise<void>((resolve) => f.end(resolve)));
    if (this.out === "-") files.push(new Promise<void>((resolve) => this.#stdout.write(new Uint8Array(0), resolve)));
    await Promise.all(files);
  }
}
