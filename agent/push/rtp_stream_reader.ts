// RTP over a byte stream, RFC 4571 §2: every packet is preceded by its length as a 16-bit
// unsigned big-endian integer. GStreamer's `rtpstreampay` writes this to the child's stdout.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   ---------------------------------------------------------------
//   |             LENGTH            |  RTP or RTCP packet ...       |
//   ---------------------------------------------------------------
//
// Chunks arrive split anywhere (inside the length field too). A pure processor: bytes in,
// packets out. Packets are views into the chunks when they lie whole inside one (the
// caller must not reuse chunk buffers), copies when they straddle two. At most one
// partial packet (≤ 65,537 bytes) is held, so memory is bounded by the format itself.

/** Counters of what the reader saw and why it dropped anything. */
export interface RtpStreamCounters {
  /** Packets returned. */
  packets: number;
  bytes: number;
  /** Frames of length 0 (legal framing, no packet): skipped. */
  emptyFrames: number;
  /** Frames shorter than an RTP header (12 bytes, RFC 3550 §5.1): dropped. */
  runtFrames: number;
  /** Frames whose first two bits are not RTP version 2: dropped. */
  badVersion: number;
}

const RTP_HEADER = 12;

/** Splits an RFC 4571 byte stream into RTP packets. */
export class RtpStreamReader {
  readonly counters: RtpStreamCounters = { packets: 0, bytes: 0, emptyFrames: 0, runtFrames: 0, badVersion: 0 };
  /** Bytes of an incomplete frame (length prefix included), carried to the next chunk. */
  private pending: Uint8Array = new Uint8Array(0);

  /** Bytes held back waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Feeds one chunk; returns the packets completed by it, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let data = chunk;
    if (this.pending.length > 0) {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending, 0);
      data.set(chunk, this.pending.length);
    }
    let offset = 0;
    while (data.length - offset >= 2) {
      const length = (data[offset]! << 8) | data[offset + 1]!;
      if (data.length - offset - 2 < length) break;
      const start = offset + 2;
      offset = start + length;
      this.accept(data.subarray(start, offset), out);
    }
    this.pending = offset === data.length ? new Uint8Array(0) : data.slice(offset);
    return out;
  }

  private accept(frame: Uint8Array, out: Uint8Array[]): void {
    if (frame.length === 0) {
      this.counters.emptyFrames++;
    } else if (frame.length < RTP_HEADER) {
      this.counters.runtFrames++;
    } else if (frame[0]! >> 6 !== 2) {
      this.counters.badVersion++;
    } else {
      this.counters.packets++;
      this.counters.bytes += frame.length;
      out.push(frame);
    }
  }

  /** The stream ended: returns how many bytes of a partial frame were left (and drops them). */
  end(): number {
    const left = this.pending.length;
    this.pending = new Uint8Array(0);
    return left;
  }
}

/**
 * Reads `stream` (a web ReadableStream or a Node Readable) to its end, calling `onPacket` for each RTP packet. Resolves with the
 * reader (its counters) and the bytes of a truncated last frame, if any.
 */
export async function readRtpStream(
  stream: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
  onPacket: (packet: Uint8Array) => void,
): Promise<{ reader: RtpStreamReader; truncatedBytes: number }> {
  const reader = new RtpStreamReader();
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    for (const packet of reader.push(chunk)) onPacket(packet);
  }
  return { reader, truncatedBytes: reader.end() };
}
