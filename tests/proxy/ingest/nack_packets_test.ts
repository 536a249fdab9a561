// nackPackets(): every sequence number asked for is in exactly one NACK packet of at most 64,
// each packet parses back (werift's RTCP parser) to the numbers it carries. The old
// WhipSession.sendNack kept the first 64 of a list and dropped the rest silently.
import { expect, test } from "bun:test";
import { GenericNack, RtcpPacketConverter, RtcpTransportLayerFeedback } from "werift";
import { MAX_NACK_SEQS, nackPackets } from "../../../proxy/ingest/nack_packets.ts";

test("nackPackets() puts 150 scattered numbers across the wrap into 3 packets of ≤ 64, none lost", () => {
  const seqs = Array.from({ length: 150 }, (_, i) => (65_400 + i * 3) & 0xffff);
  const packets = nackPackets(seqs, 11, 22);
  expect(packets).toHaveLength(3);
  const back: number[] = [];
  for (const p of packets) {
    const bytes = p.serialize();
    expect(bytes.length).toBeLessThan(300); // far under any MTU
    const [parsed] = RtcpPacketConverter.deSerialize(bytes);
    expect(parsed).toBeInstanceOf(RtcpTransportLayerFeedback);
    const nack = (parsed as RtcpTransportLayerFeedback).feedback as GenericNack;
    expect(nack.mediaSourceSsrc).toBe(22);
    expect(nack.lost.length).toBeLessThanOrEqual(MAX_NACK_SEQS);
    back.push(...nack.lost);
  }
  expect(back.sort((a, b) => a - b)).toEqual([...seqs].sort((a, b) => a - b));
  expect(nackPackets([], 1, 2)).toEqual([]);
});
