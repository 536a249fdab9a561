/**
 * Builds the werift answerer of one WHIP session: the shared ICE-lite answerer
 * (proxy/webrtc/answer_peer.ts) with a recvonly transceiver and enlarged UDP receive buffers.
 */
import type { RTCPeerConnection } from "werift";
import { type AnswerPeer, answerPeer } from "../webrtc/answer_peer.ts";
import type { H264Choice } from "../webrtc/h264_offer.ts";
import type { IngestIceOptions } from "../webrtc/ice_options.ts";

/** 4 MiB: a 720p keyframe from a gst encoder arrives as one burst of ~150 datagrams. */
const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;

interface SocketLike {
  setRecvBufferSize?(size: number): void;
}

/**
 * Raises SO_RCVBUF of the session's UDP sockets. The default (~208 KiB, ~90 full-size
 * datagrams) overflows on keyframe bursts — measured as RcvbufErrors in /proc/net/snmp and
 * NACK round trips at 4 Mbit/s on loopback. The kernel caps it at net.core.rmem_max.
 * werift does not expose its sockets, so this walks its ICE internals.
 */
function enlargeReceiveBuffers(pc: RTCPeerConnection, bytes: number): number {
  let done = 0;
  for (const transport of pc.iceTransports) {
    const protocols = (transport.connection as unknown as { protocols?: { transport?: { socket?: SocketLike } }[] }).protocols ?? [];
    for (const protocol of protocols) {
      const socket = protocol.transport?.socket;
      if (typeof socket?.setRecvBufferSize !== "function") continue;
      socket.setRecvBufferSize(bytes);
      done++;
    }
  }
  if (done === 0) throw new Error("found no werift UDP socket to size; werift's internals changed");
  return done;
}

/** A negotiated answerer whose transceiver receives the ingest's video. */
export type IngestPeer = AnswerPeer;

/**
 * Answers `choice.sdp` (an offer already narrowed to one H.264 payload type). Closes the
 * peer and rethrows if werift rejects the offer.
 */
export function answerOffer(choice: H264Choice, ice: IngestIceOptions): Promise<IngestPeer> {
  return answerPeer(choice, ice, {
    direction: "recvonly",
    afterGathering: (pc) => void enlargeReceiveBuffers(pc, ice.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER),
  });
}
