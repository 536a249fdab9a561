// Interop: a standard WHIP client that is not ours — GStreamer's webrtcbin driven by
// tests/e2e/whip_webrtcbin_client.py (Debian 12's GStreamer 1.22 has no whipsink) — pushes
// H.264 to the WHIP routes; the session sink must get the stream whole.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { spawnSync } from "node:child_process";
import { configureLog } from "../../proxy/log.ts";
import { hasElements, skipUnless } from "../support/gst.ts";
import { spawnTracked } from "../support/procs.ts";
import { GST_ELEMENTS, startWhipServer, type WhipTestServer } from "./whip_harness.ts";

const PYTHON = "/usr/bin/python3";
const CLIENT = new URL("./whip_webrtcbin_client.py", import.meta.url).pathname;

// Not hasElement("nicesrc"): `gst-inspect-1.0 --exists` also demands the plugin's version be at
// least GStreamer's, and libnice's plugin is 0.1.x.
function haveNice(): boolean {
  return spawnSync("gst-inspect-1.0", ["nicesrc"], { stdio: "ignore" }).status === 0;
}

function havePythonWebrtc(): boolean {
  const probe = spawnSync(PYTHON, ["-c", "import gi; gi.require_version('GstWebRTC', '1.0'); gi.require_version('GstSdp', '1.0')"]);
  return probe.status === 0;
}

const it = skipUnless(
  hasElements(...GST_ELEMENTS, "webrtcbin") && haveNice() && havePythonWebrtc(),
  "webrtcbin interop needs gstreamer1.0-nice, gir1.2-gst-plugins-bad-1.0 and /usr/bin/python3 with gi",
);

let server: WhipTestServer;
beforeAll(() => {
  configureLog({ level: "silent" });
  server = startWhipServer(new Map([[11, "tok-11"]]));
});
afterAll(async () => {
  await server.stop();
});

describe("WHIP interop with GStreamer webrtcbin", () => {
  it("webrtcbin pushes H.264 over WHIP; the sink gets it without gaps; DELETE ends the session", async () => {
    const client = spawnTracked(PYTHON, [CLIENT, server.whipUrl(11), "tok-11", "4"], { name: "webrtcbin-whip" });
    const status = await client.exited;
    const line = client.output("stdout").trim().split("\n").at(-1) ?? "";
    const result = JSON.parse(line || "{}");
    expect(status.code).toBe(0);
    expect(result).toMatchObject({ status: 201, state: "connected", deleteStatus: 200, error: null });
    const rec = server.sessions.find((s) => s.info.dataflowId === 11)!;
    expect(rec.info.payloadType).toBe(96);
    expect(rec.packets).toBeGreaterThan(200);
    let gaps = 0;
    for (let i = 1; i < rec.seqs.length; i++) if (((rec.seqs[i]! - rec.seqs[i - 1]!) & 0xffff) !== 1) gaps++;
    expect(gaps).toBe(0);
    expect(rec.closedWith).toBe("delete");
  }, 30_000);
});
