// vsb-consume and its stdout: `--out -` onto a terminal is refused (exit 2, one line naming
// the flag) before anything is connected; the terminal comes from util-linux `script`.
import { expect } from "bun:test";
import { fileURLToPath } from "node:url";
import { hasCommand, skipUnless } from "../../support/gst.ts";
import { spawnTracked } from "../../support/procs.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

skipUnless(hasCommand("script"), "needs util-linux script(1) to give the CLI a terminal as stdout")(
  "vsb-consume --out - refuses a terminal as stdout: exit 2, one line naming --out",
  async () => {
    // Port 1 on loopback: nothing listens, so getting past the check would fail differently.
    const cli = `${process.execPath} proxy/consume.ts --dataflow 1 --no-demand --out - --amqp-url amqp://127.0.0.1:1`;
    const run = spawnTracked("script", ["-qec", cli, "/dev/null"], { cwd: root, name: "script" });
    const status = await run.exited;
    const out = run.output("both");
    expect(status.code).toBe(2);
    expect(out).toContain('vsb-consume: --out "-": stdout is a terminal');
    expect(out).not.toContain("ECONNREFUSED");
  },
  20_000,
);
