/**
 * The media side of one WHEP viewer: access units wait in the viewer's own bounded queue and
 * one drain loop turns them into RTP (RFC 6184, see h264_packetizer.ts) for the viewer's
 * sender. `push` never waits: the publisher's packet path calls it for every viewer. The
 * sender is injected (werift's RTCRtpSender in the proxy, a recorder in tests).
 *
 * RTP sequence numbers are this viewer's own and contiguous (a dropped frame is not a gap
 * the player should NACK); timestamps are the unit's 90 kHz ones unless the caller gives
 * another (the compressed GOP burst of a joining viewer, see viewer_hub.ts).
 */
import { Buffer } from "node:buffer";
import { randomInt } from "node:crypto";
import { RtpHeader, RtpPacket } from "werift";
import type { AccessUnit } from "../media/frame_assembler.ts";
import { DEFAULT_MAX_PAYLOAD, packetizeH264 } from "./h264_packetizer.ts";
import { type OfferResult, ViewerQueue, type ViewerQueueOptions } from "./viewer_queue.ts";

/** Sends one RTP packet; the sender sets SSRC and payload type. */
export type RtpSend = (packet: RtpPacket) => Promise<void>;

/** Counters of one viewer (cumulative). */
export interface ViewerCounters {
  framesSent: number;
  packetsSent: number;
  bytesSent: number;
  sendErrors: number;
}

/** Options of {@link ViewerStream}; each field documents its default. */
export interface ViewerStreamOptions extends ViewerQueueOptions {
  /** Largest RTP payload. Default 1180 bytes. */
  maxPayload?: number;
  /** First RTP sequence number. Default random (RFC 3550 §5.1). */
  firstSeq?: number;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Queue + packetizer + drain loop of one viewer. */
export class ViewerStream {
  readonly queue: ViewerQueue;
  readonly counters: ViewerCounters = { framesSent: 0, packetsSent: 0, bytesSent: 0, sendErrors: 0 };
  private seq: number;
  private sending = false;
  private open = false;
  private closed = false;
  private readonly maxPayload: number;

  constructor(private readonly send: RtpSend, options: ViewerStreamOptions = {}) {
    this.queue = new ViewerQueue(options);
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.seq = options.firstSeq ?? randomInt(0, 0x10000);
  }

  /** Queues `unit` (or drops it, counted); starts draining once {@link start} was called. */
  push(unit: AccessUnit, timestamp = unit.rtpTimestamp): OfferResult {
    if (this.closed) return { queued: false, wantKeyframe: false };
    const result = this.queue.offer(unit, timestamp);
    if (result.queued && this.open) void this.drain();
    return result;
  }

  /** The transport is up: send what waits and everything after. */
  start(): void {
    if (this.closed || this.open) return;
    this.open = true;
    void this.drain();
  }

  /** Stops sending; queued frames are discarded. */
  close(): void {
    this.closed = true;
    this.queue.clear();
  }

  /** True while the drain loop is sending. */
  get busy(): boolean {
    return this.sending;
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let item = this.queue.take(); item && !this.closed; item = this.queue.take()) {
        await this.sendUnit(item.unit, item.timestamp);
      }
    } finally {
      this.sending = false;
    }
  }

  private async sendUnit(unit: AccessUnit, timestamp: number): Promise<void> {
    const payloads = packetizeH264(unit.nals, this.maxPayload);
    for (const { payload, marker } of payloads) {
      if (this.closed) return;
      const header = new RtpHeader({
        version: 2, marker, payloadType: 0, sequenceNumber: this.seq, timestamp: timestamp >>> 0, ssrc: 0, payloadOffset: 12,
      });
      this.seq = (this.seq + 1) & 0xffff;
      try {
        await this.send(new RtpPacket(header, toBuffer(payload)));
        this.counters.packetsSent++;
        this.counters.bytesSent += payload.length;
      } catch {
        // One failed datagram is loss the player NACKs; counted, the loop goes on.
        this.counters.sendErrors++;
      }
    }
    this.counters.framesSent++;
  }
}
