// A WHIP push whose start hook throws (the registry's store failing) must not leave a werift
// peer and a sink behind: the session is torn down, no onEnd is reported, and the next push works.
import { afterAll, expect, test } from "bun:test";
import { RTCPeerConnection } from "werift";
import { publisherConfig } from "../../../agent/push/publisher_config.ts";
import { configureLog } from "../../../proxy/log.ts";
import { StoreUnavailableError } from "../../../proxy/registry/errors.ts";
import { SDP_CONTENT_TYPE } from "../../../shared/mod.ts";
import { startWhipServer, waitFor } from "../../e2e/whip_harness.ts";

configureLog({ level: "silent" });
let failStart = true;
const server = startWhipServer(new Map([[1, "tok-1"]]), {
  onStart: () => {
    if (failStart) throw new StoreUnavailableError("the registration store could not be written (test)");
  },
});
const peers: RTCPeerConnection[] = [];
afterAll(async () => {
  for (const pc of peers) await pc.close();
  await server.stop();
});

async function offer(): Promise<string> {
  const pc = new RTCPeerConnection(publisherConfig({ url: "", interfaceAddresses: ["127.0.0.1"] }));
  peers.push(pc);
  pc.addTransceiver("video", { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await waitFor(() => pc.iceGatheringState === "complete", 3000);
  return pc.localDescription!.sdp;
}

const post = async () => fetch(`${server.base}/whip/1`, {
  method: "POST", headers: { "content-type": SDP_CONTENT_TYPE, authorization: "Bearer tok-1" }, body: await offer(),
});

test("a throwing onStart closes the session's sink and peer; the next push is answered", async () => {
  const res = await post();
  expect(res.status).not.toBe(201);
  expect(server.sessions).toHaveLength(1);
  expect(server.sessions[0]!.closedWith).toBeDefined(); // the sink was closed (then the peer)
  expect(server.registry.get?.(1)).toBeUndefined();
  expect(server.ends).toHaveLength(0);
  failStart = false;
  const ok = await post();
  expect(ok.status).toBe(201);
}, 30_000);
