/**
 * Makes werift's receiver send the proxy's transport-cc feedback (./twcc_feedback.ts) instead of
 * its own. werift 0.25.2 builds a `ReceiverTWCC` for a receiver whose codec negotiated
 * transport-cc (webrtc/src/media/rtpReceiver.ts `setupTWCC`: at negotiation from the offer's
 * `a=ssrc`, else at the first packet) and hands it each packet's transport-wide sequence number
 * (`handleTWCC`); every 11 numbers its `sendTWCC` writes a feedback (its 100 ms loop never runs:
 * `twccRunning` starts false). What that feedback says cannot be read right:
 *
 * - `length` is floor(octets / 4) with no padding, so the usual packet (11 small deltas) is one
 *   word longer than it says; werift's own RTCP parser then throws and drops the datagram, and
 *   libwebrtc finds no valid packet either. No feedback arrives at all.
 * - The reference time is the previous feedback's last arrival rounded down to 64 ms, while the
 *   first delta is taken from that arrival unrounded: each feedback's times are early by 0 to
 *   64 ms, a different amount each time (with the framing mended, Chromium's delay-based
 *   estimate fell from 3.4 Mbit/s to ~200 kbit/s for 15 s on loopback). Each delta is also
 *   rounded down on its own, so the error grows along a feedback.
 * - A lost packet is written into the run of received ones without a delta, leaving fewer deltas
 *   than the statuses say (werift's and libwebrtc's parsers reject it): loss is never reported.
 * - Across the 16-bit wrap the status count comes out 0 (libwebrtc rejects it).
 *
 * So `handleTWCC` is replaced on werift's prototype, once per process: each ReceiverTWCC gets a
 * TwccFeedback, whose packets go out on the ReceiverTWCC's own DTLS transport (SRTCP) as werift
 * sends its own. The prototype is reached through a receiver made for the purpose, as the fast
 * path reaches werift's NackHandler (./werift_fast_path.ts). If werift's members are not there,
 * one warning is logged and werift runs as shipped.
 */
import { RTCRtpCodecParameters, RTCRtpReceiver } from "werift";
import type { Logger } from "../log.ts";
import { TwccFeedback } from "./twcc_feedback.ts";

/** What the replacement reads of werift's ReceiverTWCC (its `this`). */
interface ReceiverTwccLike {
  rtcpSsrc: number;
  mediaSourceSsrc: number;
  dtlsTransport: { sendRtcp(packets: { serialize(): Uint8Array }[]): Promise<unknown> };
}

/** Feedback packets handed to werift's DTLS transport, and those it failed to send (process-wide). */
export const twccCounters = { feedbacks: 0, sendErrors: 0 };

const feedbacks = new WeakMap<object, TwccFeedback>();
let installed: { proto: { handleTWCC: unknown }; stock: unknown } | undefined;

/** The TwccFeedback serving werift's ReceiverTWCC `receiverTwcc`, if it got a packet yet (tests). */
export function twccFeedbackOf(receiverTwcc: object): TwccFeedback | undefined {
  return feedbacks.get(receiverTwcc);
}

/** werift's ReceiverTWCC prototype, from a receiver that negotiated transport-cc. */
function receiverTwccProto(): { handleTWCC: unknown } {
  const receiver = new RTCRtpReceiver({ debug: {} } as never, "video", 1) as unknown as {
    prepareReceive(p: object): void;
    setupTWCC(ssrc: number): void;
    receiverTWCC?: object;
    nack: { close(): void };
  };
  const h264 = new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 96, rtcpFeedback: [{ type: "transport-cc" }] });
  receiver.prepareReceive({ codecs: [h264], encodings: [] });
  receiver.setupTWCC(1);
  receiver.nack.close();
  const proto = receiver.receiverTWCC ? Object.getPrototypeOf(receiver.receiverTWCC) as { handleTWCC?: unknown } : undefined;
  if (typeof proto?.handleTWCC !== "function") throw new Error("werift's receiver made no ReceiverTWCC with a handleTWCC()");
  return proto as { handleTWCC: unknown };
}

/**
 * Installs the replacement unless it is in already; returns whether it is in. `nowUs` is the
 * arrival clock in µs (default `performance.now()`).
 */
export function installTwccFeedback(log: Logger, nowUs: () => number = () => performance.now() * 1000): boolean {
  if (installed) return true;
  let proto;
  try {
    proto = receiverTwccProto();
  } catch (error) {
    log.warn("transport-cc feedback left as werift writes it", { error });
    return false;
  }
  installed = { proto, stock: proto.handleTWCC };
  proto.handleTWCC = function handleTWCC(this: ReceiverTwccLike, seq: unknown): void {
    // werift calls it for every packet, with undefined when the packet has no sequence number.
    if (typeof seq !== "number") return;
    let feedback = feedbacks.get(this);
    if (!feedback) {
      feedback = new TwccFeedback({ senderSsrc: this.rtcpSsrc, mediaSsrc: this.mediaSourceSsrc });
      feedbacks.set(this, feedback);
    }
    for (const packet of feedback.add(seq, nowUs())) {
      twccCounters.feedbacks++;
      this.dtlsTransport.sendRtcp([{ serialize: () => packet }]).catch(() => twccCounters.sendErrors++);
    }
  };
  return true;
}

/** Puts werift's own `handleTWCC` back (tests compare against werift as shipped). */
export function uninstallTwccFeedback(): void {
  if (!installed) return;
  installed.proto.handleTWCC = installed.stock;
  installed = undefined;
}
