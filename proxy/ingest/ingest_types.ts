/**
 * What the WHIP ingest shares with the rest of the proxy: the sink that takes each
 * received RTP packet and the reasons a session ends (the ICE settings are
 * proxy/webrtc/ice_options.ts).
 */

/** Why a WHIP session ended (published with `terminatedataflow`). */
export type SessionEndReason =
  | "delete" // the client sent DELETE on the Location (RFC 9725 §4.3)
  | "ice-failed" // ICE/DTLS never connected, or failed
  | "media-timeout" // no RTP for `mediaTimeoutMs`
  | "dataflow-expired" // the registration ended (keep-alives missed, DELETE /dataflows/{id})
  | "takeover" // a new push for the same dataflow replaced a dead session
  | "shutdown" // the proxy is stopping
  | "replica-lost"; // its replica died (heartbeat lapsed); another replica took the dataflow over and announces this

/** What a sink asks the session to send back to the publisher after a packet. */
export interface IngestFeedback {
  /** Sequence numbers to NACK now (RFC 4585 §6.2.1). */
  nacks?: readonly number[];
  /** Ask for a keyframe now (PLI, RFC 4585 §6.3.1). */
  pli?: boolean;
}

/** werift's parsed RTP packet, as far as a sink may rely on it (RTX already unwrapped). */
export interface IngestRtpPacket {
  header: { marker: boolean; payloadType: number; sequenceNumber: number; timestamp: number; ssrc: number };
  payload: Uint8Array;
  /** The packet as bytes (a fresh copy). */
  serialize(): Uint8Array;
}

/**
 * The per-session consumer of RTP, e.g. the frame assembler plus the UDP forward.
 * Define `onRtp` to get werift's parsed packet (no re-serialisation), else `onPacket` gets
 * bytes. Both are called synchronously, in arrival order; RTX is already unwrapped (RFC 4588 §4).
 */
export interface SessionSink {
  /** One RTP packet as bytes (the sink's to keep), arrival in ms since the epoch. */
  onPacket?(packet: Uint8Array, arrivalMs: number): IngestFeedback | void;
  /** One RTP packet as werift parsed it; preferred over `onPacket` when defined. */
  onRtp?(packet: IngestRtpPacket, arrivalMs: number): IngestFeedback | void;
  /** Earliest time `poll` has work (e.g. a jitter buffer's loss deadline); Infinity when none. */
  wakeAtMs?(): number;
  /** Time passed without packets: returns feedback to send (e.g. NACK repeats, PLI after loss). */
  poll?(nowMs: number): IngestFeedback | void;
  /** The session ended; no more packets follow. */
  close(reason: SessionEndReason): void;
}

/** Identifies one session to its sink factory and to event listeners. */
export interface SessionInfo {
  dataflowId: number;
  sessionId: string;
  /** H.264 payload type negotiated for this session. */
  payloadType: number;
  rtxPayloadType?: number;
  /** RFC 6184 §8.1 packetization-mode negotiated (1 when unset). */
  packetizationMode?: 0 | 1;
  /** abs-capture-time extension id negotiated (RFC 8285), when the sender offered it. */
  absCaptureTimeId?: number;
}

/** Makes the sink of a new session. */
export type SinkFactory = (info: SessionInfo) => SessionSink;
