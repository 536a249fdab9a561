// A WHEP player for tests: werift with a recvonly H.264 transceiver (loopback only, no STUN),
// non-trickle like the dashboard, that records what it receives: RTP packets, frames (RTP
// marker), sequence gaps, keyframes (IDR NAL units or FU-A starts of one).
import { RTCPeerConnection, RTCRtpCodecParameters, type RtpPacket } from "werift";
import { SDP_CONTENT_TYPE } from "../../shared/mod.ts";

/** What a player received so far. */
export interface PlayerStats {
  packets: number;
  frames: number;
  keyframes: number;
  /** Sequence numbers skipped (counted per missing packet). */
  gaps: number;
  /** Packets that came again or after a later one (not counted as frames or gaps). */
  late: number;
  /** Frames before the first keyframe (must be 0: the proxy starts a viewer at a keyframe). */
  framesBeforeKeyframe: number;
  /** Ms from open() to the WHEP answer, and to the last packet of the first frame. */
  answeredMs?: number;
  firstPacketMs?: number;
  firstFrameMs?: number;
}

function isKeyframeStart(payload: Uint8Array): boolean {
  const type = payload[0]! & 0x1f;
  if (type === 5 || type === 7) return true;
  return type === 28 && (payload[1]! & 0x80) !== 0 && (payload[1]! & 0x1f) === 5;
}

/** A recvonly WHEP offer from a player's werift peer; the peer's close goes into `cleanups`. */
export async function recvonlyOffer(cleanups: (() => unknown)[]): Promise<string> {
  const pc = new RTCPeerConnection(whepPlayerConfig());
  cleanups.push(() => pc.close());
  pc.addTransceiver("video", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  return pc.localDescription!.sdp;
}

/** werift settings of a player: H.264 pm1 with NACK/PLI, loopback only, no STUN. */
export function whepPlayerConfig() {
  return {
    codecs: {
      video: [new RTCRtpCodecParameters({
        mimeType: "video/H264", clockRate: 90000, payloadType: 102,
        rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }],
        parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      })],
      audio: [],
    },
    headerExtensions: { video: [], audio: [] },
    iceServers: [],
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    iceUseIpv4: true,
    iceUseIpv6: false,
  };
}

/** A recvonly werift peer that played one WHEP resource. */
export class WhepPlayer {
  readonly stats: PlayerStats = { packets: 0, frames: 0, keyframes: 0, gaps: 0, late: 0, framesBeforeKeyframe: 0 };
  location = "";
  /** Every RTP packet received, in order, when opened with `record` (to depacketize and decode). */
  recorded: RtpPacket[] | undefined;
  readonly openedAt = performance.now();
  private lastSeq: number | undefined;
  private frameHasKey = false;

  private constructor(readonly pc: RTCPeerConnection, private readonly token?: string) {}

  /** POSTs a recvonly offer to `url`; resolves with the player, or throws with the status and body. */
  static async open(url: string, token?: string, options: { record?: boolean } = {}): Promise<WhepPlayer> {
    const pc = new RTCPeerConnection(whepPlayerConfig());
    const player = new WhepPlayer(pc, token);
    if (options.record) player.recorded = [];
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    transceiver.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => player.onRtp(rtp)));
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.iceGatheringStateChange.subscribe((s) => s === "complete" && resolve());
    });
    const res = await fetch(url, { method: "POST", headers: player.headers({ "content-type": SDP_CONTENT_TYPE }), body: pc.localDescription!.sdp });
    const text = await res.text();
    if (res.status !== 201) {
      await pc.close();
      throw new Error(`WHEP POST answered ${res.status}: ${text}`);
    }
    player.stats.answeredMs = Math.round(performance.now() - player.openedAt);
    player.location = new URL(res.headers.get("location")!, url).toString();
    await pc.setRemoteDescription({ type: "answer", sdp: text });
    return player;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, authorization: `Bearer ${this.token}` } : extra;
  }

  private onRtp(rtp: RtpPacket): void {
    this.recorded?.push(rtp);
    this.stats.packets++;
    this.stats.firstPacketMs ??= Math.round(performance.now() - this.openedAt);
    const seq = rtp.header.sequenceNumber;
    if (this.lastSeq !== undefined) {
      const ahead = (seq - this.lastSeq) & 0xffff;
      // A repeat or a late packet (a retransmission that crossed the original) is not a gap.
      if (ahead === 0 || ahead >= 0x8000) {
        this.stats.late++;
        return;
      }
      this.stats.gaps += ahead - 1;
    }
    this.lastSeq = seq;
    if (rtp.payload.length > 1 && isKeyframeStart(rtp.payload)) this.frameHasKey = true;
    if (!rtp.header.marker) return;
    this.stats.frames++;
    this.stats.firstFrameMs ??= Math.round(performance.now() - this.openedAt);
    if (this.frameHasKey) this.stats.keyframes++;
    else if (this.stats.keyframes === 0) this.stats.framesBeforeKeyframe++;
    this.frameHasKey = false;
  }

  /** Ends politely: DELETE on the Location, then closes the peer. Returns the DELETE status. */
  async close(): Promise<number> {
    const res = await fetch(this.location, { method: "DELETE", headers: this.headers() });
    await this.pc.close();
    return res.status;
  }

  /** Vanishes without a DELETE (like a killed tab): the proxy must notice by itself. */
  async abort(): Promise<void> {
    await this.pc.close();
  }
}
