import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { RtpPacket } from "werift";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { weriftPacket } from "../../agent/push/werift_packet.ts";

const PACKETS = new RtpStreamReader().push(new Uint8Array(readFileSync(new URL("../fixtures/h264_320x240_multi_slice.rtp", import.meta.url))));

describe("weriftPacket()", () => {
  test("builds the same packet werift's own parser makes, for every packet of a gst capture", () => {
    expect(PACKETS.length).toBeGreaterThan(50);
    for (const bytes of PACKETS) {
      const fast = weriftPacket(bytes);
      expect(fast).toBeInstanceOf(RtpPacket);
      const slow = RtpPacket.deSerialize(Buffer.from(bytes));
      const f = (fast as RtpPacket).header;
      for (const key of ["version", "padding", "extension", "marker", "payloadType", "sequenceNumber", "timestamp", "ssrc", "payloadOffset", "csrcLength"] as const) {
        expect(f[key]).toEqual(slow.header[key]);
      }
      expect(Buffer.compare((fast as RtpPacket).payload, slow.payload)).toBe(0);
      expect(Buffer.compare((fast as RtpPacket).serialize(), Buffer.from(bytes))).toBe(0);
    }
  });

  test("hands packets with padding, extension or CSRCs to werift as bytes", () => {
    for (const flag of [0x20, 0x10, 0x01]) {
      const bytes = PACKETS[0]!.slice();
      bytes[0] = bytes[0]! | flag;
      expect(Buffer.isBuffer(weriftPacket(bytes))).toBe(true);
    }
  });
});
