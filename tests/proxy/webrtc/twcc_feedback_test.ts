// TwccFeedback (proxy/webrtc/twcc_feedback.ts) on a fake clock: arrivals in, transport-cc packets
// out, each read back with werift's own RTCP parser (what the agent's werift sender runs) and
// checked field by field against the draft's layout: one run-length chunk per packet, RTCP length
// and P-bit padding right, reference time and deltas on one clock so arrival times read back from
// consecutive packets fit together; loss, reordering, late and duplicate packets, 64 ms gaps, the
// 16-bit wrap and the 24-bit reference wrap.
import { describe, expect, test } from "bun:test";
import { RtcpPacketConverter, type RtcpTransportLayerFeedback, RunLengthChunk, TransportWideCC } from "werift";
import { TwccFeedback } from "../../../proxy/webrtc/twcc_feedback.ts";

/** µs on the fake clock; not a multiple of 64 ms, so the reference time is rounded down. */
const T0 = 5_000_123_456;

/** werift's reading of one packet (and the checks that it is one well-formed RTCP packet). */
function read(packet: Uint8Array): TransportWideCC {
  expect(packet.length % 4).toBe(0);
  expect(new DataView(packet.buffer).getUint16(2)).toBe(packet.length / 4 - 1); // RFC 3550 §6.4.1
  expect(packet[0]! & 0x1f).toBe(15);
  expect(packet[1]).toBe(205);
  const packets = RtcpPacketConverter.deSerialize(Buffer.from(packet));
  expect(packets.length).toBe(1);
  const feedback = (packets[0] as RtcpTransportLayerFeedback).feedback as TransportWideCC;
  expect(feedback).toBeInstanceOf(TransportWideCC);
  expect(feedback.packetChunks.length).toBe(1);
  expect(feedback.packetChunks[0]).toBeInstanceOf(RunLengthChunk);
  // 20 octets of header and fields, one chunk, one octet a delta; padded (P bit) to 32 bits.
  const unpadded = 22 + feedback.recvDeltas.length;
  expect(packet.length).toBe((unpadded + 3) & ~3);
  expect((packet[0]! & 0x20) !== 0).toBe(unpadded % 4 !== 0);
  if (unpadded % 4 !== 0) expect(packet.at(-1)).toBe(packet.length - unpadded);
  return feedback;
}

/** Arrival times (µs, on the 250 µs grid) read back from consecutive feedbacks: reference + deltas. */
function arrivals(feedbacks: TransportWideCC[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const fb of feedbacks) {
    let at = fb.referenceTime * 64_000;
    let seq = fb.baseSequenceNumber;
    for (const delta of fb.recvDeltas) {
      at += delta.delta;
      out.set(seq, at);
      seq = (seq + 1) & 0xffff;
    }
  }
  return out;
}

function feed(twcc: TwccFeedback, items: [number, number][]): TransportWideCC[] {
  return items.flatMap(([seq, at]) => twcc.add(seq, at)).map(read);
}

const onGrid = (us: number) => Math.floor(us / 250) * 250;
/** The status symbol of a feedback's one (run-length) chunk: 0 lost, 1 received with a small delta. */
const status = (fb: TransportWideCC) => (fb.packetChunks[0] as RunLengthChunk).packetStatus;

describe("TwccFeedback", () => {
  test("11 packets 1 ms apart: one feedback of 11 received, small deltas, the reference time rounded down to 64 ms", () => {
    const twcc = new TwccFeedback({ senderSsrc: 0xaaaa, mediaSsrc: 0xbbbb });
    const out = feed(twcc, Array.from({ length: 11 }, (_, i) => [100 + i, T0 + i * 1000]));
    expect(out.length).toBe(1);
    const fb = out[0]!;
    expect([fb.senderSsrc, fb.mediaSourceSsrc, fb.baseSequenceNumber, fb.packetStatusCount, fb.fbPktCount]).toEqual([0xaaaa, 0xbbbb, 100, 11, 0]);
    expect(fb.referenceTime).toBe(Math.floor(T0 / 64_000));
    expect(fb.packetChunks[0]).toMatchObject({ packetStatus: 1, runLength: 11 });
    expect(fb.recvDeltas.map((d) => d.delta)).toEqual([onGrid(T0) - fb.referenceTime * 64_000, ...Array(10).fill(1000)]);
    // werift's packetResults (what its estimator reads) are right for one chunk, but for a last extra one.
    expect(fb.packetResults.slice(0, 11).map((r) => [r.sequenceNumber, r.received])).toEqual(Array.from({ length: 11 }, (_, i) => [100 + i, true]));
    expect(twcc.counters).toEqual({ feedbacks: 1, reportedReceived: 11, reportedLost: 0, late: 0, duplicates: 0 });
  });

  test("arrival times read back from many feedbacks are each packet's own (to 250 µs), without drift; fb pkt count counts mod 256", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2 });
    const sent: [number, number][] = [];
    let at = T0;
    for (let i = 0; i < 3000; i++) {
      at += 300 + ((i * 7919) % 9000); // 0.3 to 9.3 ms apart: never a multiple of 250 µs in a row
      sent.push([i & 0xffff, at]);
    }
    const out = feed(twcc, sent);
    expect(out.length).toBe(Math.ceil(3000 / 11) - 1); // the last run waits for more
    expect(out.slice(250, 260).map((fb) => fb.fbPktCount)).toEqual([250, 251, 252, 253, 254, 255, 0, 1, 2, 3]);
    const back = arrivals(out);
    for (const [seq, t] of sent.slice(0, 2990)) expect(back.get(seq)).toBe(onGrid(t));
  });

  test("a lost packet: the run before it, a lost run of one once the next packet waited 10 ms, then the rest", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2 });
    const seqs = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    const out = feed(twcc, seqs.map((s, i) => [s, T0 + i * 2000]));
    expect(out.map((fb) => [fb.baseSequenceNumber, fb.packetStatusCount, status(fb)])).toEqual([
      [1, 3, 1], // complete once 5 shows where it ends
      [4, 1, 0], // 4 is lost once 5 waited 10 ms (5 packets later)
      [5, 11, 1],
    ]);
    expect(out[1]!.recvDeltas).toEqual([]);
    expect(out[1]!.packetResults[0]).toMatchObject({ sequenceNumber: 4, received: false });
    expect(twcc.counters).toMatchObject({ reportedLost: 1, reportedReceived: 14 });
    // 4 after all, and 9 again: already reported, counted as late; 16 (not reported yet) again: a duplicate.
    expect(twcc.add(4, T0 + 40_000)).toEqual([]);
    expect(twcc.add(9, T0 + 41_000)).toEqual([]);
    expect(twcc.add(16, T0 + 42_000)).toEqual([]);
    expect(twcc.counters).toMatchObject({ late: 2, duplicates: 1 });
  });

  test("reordered within 10 ms: reported received, each at its own time", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2 });
    const items: [number, number][] = [[1, T0], [3, T0 + 1000], [2, T0 + 2000], ...Array.from({ length: 10 }, (_, i): [number, number] => [4 + i, T0 + 3000 + i * 1000])];
    const out = feed(twcc, items);
    // 1 goes out when 3 shows 2 missing; 2 comes within 10 ms, before 3 in sequence but after it
    // in time: a negative delta, so 3 starts the next feedback.
    expect(out.map((fb) => [fb.baseSequenceNumber, fb.packetStatusCount, status(fb)])).toEqual([[1, 1, 1], [2, 1, 1], [3, 11, 1]]);
    const back = arrivals(out);
    expect([1, 2, 3].map((s) => back.get(s))).toEqual([onGrid(T0), onGrid(T0 + 2000), onGrid(T0 + 1000)]);
    expect(twcc.counters).toMatchObject({ reportedLost: 0, late: 0 });
  });

  test("a gap of 64 ms or more starts a new feedback (one-octet deltas only)", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2 });
    const out = feed(twcc, [[1, T0], [2, T0 + 33_000], [3, T0 + 33_000 + 64_000], [4, T0 + 300_000], [5, T0 + 301_000]]);
    expect(out.map((fb) => [fb.baseSequenceNumber, fb.packetStatusCount])).toEqual([[1, 2], [3, 1]]);
    for (const fb of out) for (const d of fb.recvDeltas) expect(d.delta).toBeLessThan(64_000);
    expect(arrivals(out).get(3)).toBe(onGrid(T0 + 97_000));
  });

  test("a run whose first packet waited 100 ms goes out with the next arrival, that one included", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2 });
    expect(feed(twcc, [[1, T0], [2, T0 + 50_000], [3, T0 + 99_000]])).toEqual([]);
    expect(feed(twcc, [[4, T0 + 120_000]]).map((fb) => [fb.baseSequenceNumber, fb.packetStatusCount])).toEqual([[1, 4]]);
  });

  test("the 16-bit wrap: one run from 65530 on, numbered on the wire mod 2^16", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2 });
    const out = feed(twcc, Array.from({ length: 22 }, (_, i) => [(65530 + i) & 0xffff, T0 + i * 500]));
    expect(out.map((fb) => [fb.baseSequenceNumber, fb.packetStatusCount])).toEqual([[65530, 11], [5, 11]]);
    expect(twcc.counters).toMatchObject({ reportedReceived: 22, reportedLost: 0 });
  });

  test("the reference time wraps at 24 bits (2^24 × 64 ms, 12.4 days)", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2, maxPackets: 1 });
    const at = 2 ** 24 * 64_000 + 3 * 64_000 + 1_000;
    expect(read(twcc.add(1, at)[0]!).referenceTime).toBe(3);
  });

  test("a hole wider than one chunk's run (8191) is reported in runs of at most 8191", () => {
    const twcc = new TwccFeedback({ senderSsrc: 1, mediaSsrc: 2, maxPackets: 1 });
    twcc.add(0, T0);
    const out = [...twcc.add(20_000, T0 + 1000), ...twcc.add(20_001, T0 + 20_000)].map(read);
    expect(out.map((fb) => [fb.baseSequenceNumber, fb.packetStatusCount, status(fb)])).toEqual([
      [1, 8191, 0], [8192, 8191, 0], [16383, 3617, 0], [20000, 1, 1], [20001, 1, 1],
    ]);
  });
});
