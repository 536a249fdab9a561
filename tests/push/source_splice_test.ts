// SourceSplice and WhipPublisher.sendRtp() across a restarted capture, driven by packets
// captured from gst (tests/fixtures/*.rtp): after a new SSRC, nothing goes out before the
// first packet of a keyframe, and the splice steps the timestamp by the source's interval.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { RtpPacket } from "werift";
import { createLogger } from "../../agent/log.ts";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { SourceSplice, startsKeyframe } from "../../agent/push/source_splice.ts";
import { WhipPublisher } from "../../agent/push/whip_publisher.ts";

function fixture(name: string): Uint8Array[] {
  return new RtpStreamReader().push(new Uint8Array(readFileSync(new URL(`../fixtures/${name}.rtp`, import.meta.url))));
}
/** Source A: a whole capture; source B: another gst child (other SSRC), joined mid-GOP at packet 8. */
const A = fixture("h264_320x240_single_slice");
const B = fixture("h264_320x240_multi_slice");
const JOIN = 8;
const B_KEYFRAME = 125; // AUD at 124, then SPS: the next GOP of B
const ts = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint32(4);
const ssrc = (p: Uint8Array) => new DataView(p.buffer, p.byteOffset).getUint32(8);

/** An RTP packet of SSRC `s`, timestamp `t` and H.264 payload `payload`. */
function rtp(s: number, t: number, payload: number[]): Uint8Array {
  const p = new Uint8Array(12 + payload.length);
  p[0] = 0x80;
  p[1] = 96;
  new DataView(p.buffer).setUint32(4, t);
  new DataView(p.buffer).setUint32(8, s);
  p.set(payload, 12);
  return p;
}

describe("startsKeyframe()", () => {
  test("SPS or IDR: single NAL, anywhere in a STAP-A, FU-A start (of IDR or SPS); not FU-A middles, P slices, AUD", () => {
    expect(startsKeyframe(rtp(1, 0, [0x67, 0x42]))).toBe(true);
    expect(startsKeyframe(rtp(1, 0, [0x65, 0x88]))).toBe(true);
    expect(startsKeyframe(rtp(1, 0, [0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x02, 0x67, 0x42]))).toBe(true); // AUD, SPS
    expect(startsKeyframe(rtp(1, 0, [0x78, 0x00, 0x02, 0x09, 0x10, 0x00, 0x09, 0x67]))).toBe(false); // SPS cut short
    expect(startsKeyframe(rtp(1, 0, [0x7c, 0x85, 0x00]))).toBe(true);
    expect(startsKeyframe(rtp(1, 0, [0x7c, 0x87, 0x42]))).toBe(true);
    expect(startsKeyframe(rtp(1, 0, [0x7c, 0x05, 0x00]))).toBe(false);
    expect(startsKeyframe(rtp(1, 0, [0x7c, 0x81, 0x00]))).toBe(false); // FU-A start of a P slice
    expect(startsKeyframe(rtp(1, 0, [0x41, 0x9a]))).toBe(false);
    expect(startsKeyframe(rtp(1, 0, [0x09, 0x10]))).toBe(false);
  });

  test("finds the GOP starts of the captured fixtures and nothing in between", () => {
    expect(B.slice(JOIN, B_KEYFRAME).some(startsKeyframe)).toBe(false);
    expect(startsKeyframe(B[B_KEYFRAME]!)).toBe(true);
  });
});

describe("SourceSplice", () => {
  test("after a restart holds packets until the first keyframe packet, splices there, then sends", () => {
    const splice = new SourceSplice();
    expect(A.map((p) => splice.accept(p)).every((a) => a === "send")).toBe(true);
    const actions = B.slice(JOIN).map((p) => splice.accept(p));
    expect(actions.slice(0, B_KEYFRAME - JOIN).every((a) => a === "hold")).toBe(true);
    expect(actions[B_KEYFRAME - JOIN]).toBe("splice");
    expect(actions.slice(B_KEYFRAME - JOIN + 1).every((a) => a === "send")).toBe(true);
    expect(splice.counters).toEqual({ sourceRestarts: 1, droppedAwaitingKeyframe: B_KEYFRAME - JOIN });
  });

  test("timestampStep is the old source's picture interval, else 90000 / fps", () => {
    const seen = new SourceSplice({ fps: 25 });
    A.forEach((p) => seen.accept(p));
    const times = [...new Set(A.map(ts))];
    expect(seen.timestampStep).toBe(times.at(-1)! - times.at(-2)!);
    expect(seen.timestampStep).toBeGreaterThan(2990); // the fixture is 30 fps
    expect(seen.timestampStep).toBeLessThan(3010);
    const unseen = new SourceSplice({ fps: 25 });
    unseen.accept(A[0]!);
    expect(unseen.accept(B[B_KEYFRAME]!)).toBe("splice");
    expect(unseen.timestampStep).toBe(3600);
    expect(new SourceSplice().timestampStep).toBe(3000);
    expect(() => new SourceSplice({ fps: 0 })).toThrow('fps "0"');
  });

  test("a second restart while still waiting keeps waiting, and counts both", () => {
    const splice = new SourceSplice();
    splice.accept(rtp(1, 0, [0x65, 0x88]));
    expect(splice.accept(rtp(2, 0, [0x41, 0x9a]))).toBe("hold");
    expect(splice.accept(rtp(3, 0, [0x41, 0x9a]))).toBe("hold");
    expect(splice.accept(rtp(3, 0, [0x67, 0x42]))).toBe("splice");
    expect(splice.counters).toEqual({ sourceRestarts: 2, droppedAwaitingKeyframe: 2 });
  });
});

/** A connected publisher whose werift sender is a recorder (no network). */
function connectedPublisher(fps?: number) {
  const sent: RtpPacket[] = [];
  const splices: number[] = [];
  const publisher = new WhipPublisher({ url: "http://mec/whip/1", fps, log: createLogger({}, () => {}) });
  const sender = {
    sendRtp: (packet: RtpPacket) => {
      sent.push(packet);
      return Promise.resolve();
    },
    replaceRTP: (_header: unknown, _discontinuity: boolean, step: number) => void splices.push(step),
  };
  Object.assign(publisher as unknown as { sender: typeof sender }, { sender });
  publisher.state = "connected";
  return { publisher, sent, splices };
}

describe("WhipPublisher.sendRtp()", () => {
  test("a restarted source resumes at its first keyframe: mid-GOP packets are held and counted", () => {
    const { publisher, sent, splices } = connectedPublisher();
    A.forEach((p) => publisher.sendRtp(p));
    B.slice(JOIN).forEach((p) => publisher.sendRtp(p));
    const fromB = sent.filter((p) => p.header.ssrc === ssrc(B[0]!));
    expect(sent.length).toBe(A.length + B.length - B_KEYFRAME);
    expect(fromB[0]!.header.timestamp).toBe(ts(B[B_KEYFRAME]!));
    expect(publisher.counters).toMatchObject({ sourceRestarts: 1, droppedAwaitingKeyframe: B_KEYFRAME - JOIN });
    expect(splices.length).toBe(1);
    expect(splices[0]).toBeGreaterThan(2990); // A's own interval (30 fps), not a fixed constant
  });

  test("a restart right after the first packet splices with the configured fps", () => {
    const { publisher, splices } = connectedPublisher(10);
    publisher.sendRtp(A[0]!);
    publisher.sendRtp(B[B_KEYFRAME]!);
    expect(splices).toEqual([9000]);
  });
});
