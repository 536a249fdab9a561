// FrameSink (vsb-consume's output): each dataflow starts at its first keyframe, `written` is
// what `--frames N` counts, frames go to stdout only with `--out -`, and without `--out` they
// go nowhere, whatever stdout is (a pipe or a log file must not get video it did not ask for).
import { describe, expect, test } from "bun:test";
import { type ByteSink, FrameSink } from "../../../proxy/consumer/frame_sink.ts";

/** A ByteSink that keeps what it got. */
function bytes() {
  const chunks: Uint8Array[] = [];
  const sink: ByteSink & { text: () => string; ended: boolean } = {
    ended: false,
    write: (chunk, done) => {
      chunks.push(chunk);
      done?.();
    },
    end(done) {
      this.ended = true;
      done();
    },
    text: () => chunks.map((c) => Buffer.from(c).toString()).join(""),
  };
  return sink;
}

const f = (s: string) => Buffer.from(s);

describe("FrameSink", () => {
  test("`--out -` writes to stdout (flushed, never closed); without --out nothing goes to stdout", async () => {
    const stdout = bytes();
    const piped = new FrameSink({ out: "-", stdout });
    piped.write(1, f("K"), true);
    piped.write(1, f("p"), false);
    await piped.close();
    expect(stdout.text()).toBe("Kp");
    expect(stdout.ended).toBe(false);
    const untouched = bytes();
    const nowhere = new FrameSink({ out: undefined, stdout: untouched, open: () => { throw new Error("no file expected"); } });
    expect(nowhere.write(1, f("K"), true)).toBe(true);
    expect(nowhere.write(1, f("p"), false)).toBe(true);
    await nowhere.close();
    expect([nowhere.written, untouched.text(), nowhere.out]).toEqual([2, "", undefined]);
  });

  test("`written` counts frames from each dataflow's first keyframe, not the ones before it", () => {
    const stdout = bytes();
    const sink = new FrameSink({ out: "-", stdout });
    expect(sink.write(1, f("a"), false)).toBe(false);
    expect(sink.write(2, f("b"), false)).toBe(false);
    expect(sink.write(1, f("K"), true)).toBe(true);
    expect(sink.write(2, f("c"), false)).toBe(false);
    expect(sink.write(1, f("p"), false)).toBe(true);
    expect([sink.written, sink.skipped]).toEqual([2, 3]);
    expect(stdout.text()).toBe("Kp");
  });

  test("resync() (frames lost with a broker node): each dataflow goes on from its next keyframe", () => {
    const stdout = bytes();
    const sink = new FrameSink({ out: "-", stdout });
    sink.write(1, f("K"), true);
    sink.write(1, f("p"), false);
    sink.resync();
    expect(sink.write(1, f("x"), false)).toBe(false);
    expect(sink.write(1, f("L"), true)).toBe(true);
    expect(sink.write(1, f("q"), false)).toBe(true);
    expect(stdout.text()).toBe("KpLq");
    expect([sink.written, sink.skipped]).toEqual([4, 1]);
  });

  test("{id} in --out gives one file per dataflow; without it a second dataflow is an error", async () => {
    const files = new Map<string, ReturnType<typeof bytes>>();
    const open = (path: string) => {
      const b = bytes();
      files.set(path, b);
      return b;
    };
    const perFlow = new FrameSink({ out: "flow-{id}.h264", open });
    perFlow.write(1, f("K1"), true);
    perFlow.write(2, f("K2"), true);
    await perFlow.close();
    expect([...files.keys()]).toEqual(["flow-1.h264", "flow-2.h264"]);
    expect(files.get("flow-2.h264")!.ended).toBe(true);
    const one = new FrameSink({ out: "one.h264", open });
    one.write(1, f("K"), true);
    expect(() => one.write(2, f("K"), true)).toThrow('--out "one.h264" has no {id}');
  });
});
