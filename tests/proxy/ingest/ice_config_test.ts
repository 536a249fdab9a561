// ICE servers from `--ice-servers` to werift: TURN credentials as turn:USER:CREDENTIAL@HOST:PORT
// (flag or env), checked at the edge; the werift config carries them; and werift's public STUN
// fallback (stun.l.google.com:19302 when ICE is not lite and no STUN server is given, e.g. TURN
// only) never happens: no name is looked up and no datagram goes to port 19302 while a real
// werift answerer gathers (lookups are answered with 127.0.0.1, so a query would stay local).
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { RTCPeerConnection } from "werift";
import { loadConfig } from "../../../proxy/config/load_config.ts";
import { parseIceServer } from "../../../proxy/config/options.ts";
import { chooseH264 } from "../../../proxy/webrtc/h264_offer.ts";
import type { IngestIceOptions } from "../../../proxy/webrtc/ice_options.ts";
import { iceOptionsOf } from "../../../proxy/ingest/whip_ingest.ts";
import { answerPeer, peerConfig, withoutDefaultStun } from "../../../proxy/webrtc/answer_peer.ts";
import { type PublicStunSpy, spyOnPublicStun } from "../../support/public_stun_spy.ts";
import { CHROMIUM_OFFER } from "./chromium_offer.ts";

const noFile = () => {
  throw new Error("no config file in this test");
};
const TURN = "turn:mec-user:p%40ss%2Cw0rd@127.0.0.1:3478?transport=udp";

describe("parseIceServer()", () => {
  test("takes TURN credentials in front of the host, percent-decoded; STUN takes none", () => {
    expect(parseIceServer(TURN)).toEqual({ urls: "turn:127.0.0.1:3478?transport=udp", username: "mec-user", credential: "p@ss,w0rd" });
    expect(parseIceServer("turns:u:a:b@turn.mec.example:5349")).toEqual({ urls: "turns:turn.mec.example:5349", username: "u", credential: "a:b" });
    expect(parseIceServer("stun:stun.mec.example:3478")).toEqual({ urls: "stun:stun.mec.example:3478" });
    expect(parseIceServer("turn:turn.mec.example:3478")).toContain("needs credentials");
    expect(parseIceServer("stun:u:p@stun.mec.example")).toContain("takes no credentials");
    expect(parseIceServer("turn::p@h")).toContain("USER:CREDENTIAL");
    expect(parseIceServer("http://x")).toContain("must start with");
  });
});

describe("--ice-servers", () => {
  test("a TURN server with credentials from the env var reaches the ingest's ICE options", () => {
    const loaded = loadConfig(["--ice-address", "127.0.0.1"], { VSB_ICE_SERVERS: `stun:10.0.0.9:3478,${TURN}` }, noFile);
    if (loaded.kind !== "run") throw new Error("expected a config");
    const ice = iceOptionsOf(loaded.config);
    expect(ice.lite).toBe(false);
    expect(ice.servers).toEqual([
      { urls: "stun:10.0.0.9:3478" },
      { urls: "turn:127.0.0.1:3478?transport=udp", username: "mec-user", credential: "p@ss,w0rd" },
    ]);
    expect(peerConfig(ice)).toMatchObject({ iceLite: false, iceServers: ice.servers });
  });

  test("a TURN server without credentials is refused at the edge, naming the flag", () => {
    expect(() => loadConfig(["--ice-servers", "turn:10.0.0.9:3478"], {}, noFile)).toThrow(/flag --ice-servers .*needs credentials/);
  });

  test("none given: ICE-lite, no servers", () => {
    const loaded = loadConfig([], {}, noFile);
    if (loaded.kind !== "run") throw new Error("expected a config");
    expect(iceOptionsOf(loaded.config)).toMatchObject({ lite: true, servers: [] });
    expect(peerConfig(iceOptionsOf(loaded.config))).toMatchObject({ iceLite: true, iceServers: [] });
  });
});

describe("werift's public STUN fallback", () => {
  let spy: PublicStunSpy;
  const peers: RTCPeerConnection[] = [];
  beforeEach(() => {
    spy = spyOnPublicStun();
  });
  afterEach(() => spy.restore());
  afterAll(async () => {
    for (const pc of peers) await pc.close().catch(() => undefined);
  });
  const toGoogle = () => spy.toGoogle();

  test("a full-ICE answerer without a STUN server gathers without sending anything to 19302", async () => {
    const ice: IngestIceOptions = { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1", lite: false, servers: [] };
    const peer = await answerPeer(chooseH264(CHROMIUM_OFFER), ice, { direction: "recvonly" });
    peers.push(peer.pc);
    await Bun.sleep(300); // any STUN query would have gone out with gathering
    expect(toGoogle()).toEqual([]);
    const connection = (peer.pc.iceTransports[0] as unknown as { connection: { stunServer?: unknown } }).connection;
    expect(connection.stunServer).toBeFalsy();
  }, 15_000);

  test("with only a TURN server werift keeps the credentials and has no STUN server to ask", async () => {
    const ice = iceOptionsOf({ iceAddresses: ["127.0.0.1"], iceServers: [TURN], icePorts: undefined });
    const pc = new RTCPeerConnection(peerConfig(ice));
    peers.push(pc);
    await pc.setRemoteDescription({ type: "offer", sdp: chooseH264(CHROMIUM_OFFER).sdp });
    const connection = (pc.iceTransports[0] as unknown as {
      connection: { stunServer?: unknown; turnServer?: unknown; options: { turnUsername?: string; turnPassword?: string } };
    }).connection;
    expect(connection.stunServer).toEqual(["stun.l.google.com", 19302]); // werift's default, before the fix-up
    expect(withoutDefaultStun(pc)).toBe(1);
    expect(connection.stunServer).toBeFalsy();
    expect(connection.turnServer).toEqual(["127.0.0.1", 3478]);
    expect(connection.options).toMatchObject({ turnUsername: "mec-user", turnPassword: "p@ss,w0rd" });
    expect(toGoogle()).toEqual([]);
  });
});
