/**
 * Cheap, equivalent versions of what werift 0.25.2's `RTCRtpReceiver.handleRTP`
 * (webrtc/src/media/rtpReceiver.ts) evaluates for every RTP packet:
 *
 * - `twccEnabled` (read per packet while no TWCC receiver exists: in every session whose offer
 *   had no transport-cc; with it werift makes its ReceiverTWCC at negotiation, from the offer's
 *   `a=ssrc`, or at the first packet, and reads the getter no more) and `nackEnabled`
 *   (RFC 4585 §4.2, `a=rtcp-fb:PT nack`): each sorts `Object.values(codecs)` and searches the
 *   first codec's `rtcpFeedback` on every call. The replacements find the codec with the lowest
 *   payload type in one pass over `codecs`, so they still follow every renegotiation
 *   (`prepareReceive`, `resyncCodecs`): nothing is cached. `pliEnabled` goes the same way.
 * - `codec.name`, read twice per packet, splits `mimeType` each time; the replacement
 *   remembers the split per `mimeType` string (the name is a function of it alone).
 * - A NACK handler the proxy has closed (proxy/ingest/whip_session.ts switches werift's NACK
 *   generator off) still books every sequence number and gap; once closed nothing reads that.
 */

/** What the getters read of a receiver and its codecs. */
interface CodecLike {
  payloadType: unknown;
  rtcpFeedback: { type: string }[];
}

/** A getter of werift's receiver. */
type Getter = (this: { codecs: Record<string, CodecLike> }) => unknown;

/**
 * Returns a getter equal to werift's `this.codecArray[0]?.rtcpFeedback.find((f) => f.type === type)`
 * (lowest payload type first, the earlier of equals: the sort is stable), or `stock`'s answer
 * when a codec is odd (no numeric payload type, feedback not an array).
 */
export function fastFeedbackGetter(type: string, stock: Getter): Getter {
  return function feedback(this: { codecs: Record<string, CodecLike> }): unknown {
    const codecs = this.codecs;
    if (typeof codecs !== "object" || codecs === null) return stock.call(this);
    let first: CodecLike | undefined;
    for (const key in codecs) {
      if (!Object.hasOwn(codecs, key)) continue;
      const codec = codecs[key]!;
      const pt = codec?.payloadType;
      if (typeof pt !== "number" || Number.isNaN(pt)) return stock.call(this);
      if (first === undefined || pt < (first.payloadType as number)) first = codec;
    }
    if (first === undefined) return undefined;
    const list = first.rtcpFeedback;
    if (!Array.isArray(list)) return stock.call(this);
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.type === type) return list[i];
    }
    return undefined;
  };
}

/** Distinct mime types remembered by {@link fastCodecName} (a session has two or three). */
const MAX_NAMES = 64;

/** Returns werift's `RTCRtpCodecParameters.name` getter, remembered per `mimeType`. */
export function fastCodecName(stock: (this: { mimeType: unknown }) => string | undefined): (this: { mimeType: unknown }) => string | undefined {
  const names = new Map<string, string | undefined>();
  return function name(this: { mimeType: unknown }): string | undefined {
    const mime = this.mimeType;
    if (typeof mime !== "string") return stock.call(this);
    if (names.has(mime)) return names.get(mime);
    const value = stock.call(this);
    if (names.size >= MAX_NAMES) names.clear();
    names.set(mime, value);
    return value;
  };
}

/** Returns werift's `NackHandler.addPacket` that does nothing once the handler is closed. */
export function skipWhenClosed<P>(stock: (this: { closed: boolean }, packet: P) => void): (this: { closed: boolean }, packet: P) => void {
  return function addPacket(this: { closed: boolean }, packet: P): void {
    if (this.closed) return;
    stock.call(this, packet);
  };
}

/**
 * For one ingest receiver whose NACK handler the proxy closed, fixes the two getters werift
 * reads for every packet: `nackEnabled` reads false (all it gates is the closed handler's
 * `addPacket`, which does nothing) and `twccEnabled` keeps the value it has now (a WHIP session
 * is never renegotiated, RFC 9725 §4.1): the transport-cc feedback when the offer had it, so
 * werift still makes its ReceiverTWCC from it at the first packet if it has none yet, undefined
 * when not. Even the fast getters walked the codecs per packet: ~5 % of the proxy's samples at
 * 16 streams.
 */
export function pinIngestFeedback(receiver: object): void {
  const twcc = (receiver as { twccEnabled?: unknown }).twccEnabled;
  Object.defineProperty(receiver, "nackEnabled", { configurable: true, get: () => false });
  Object.defineProperty(receiver, "twccEnabled", { configurable: true, get: () => twcc });
}
