// spsOfRtp(), VideoSizeWatch and the metadata they correct, driven by the captured RTP of a
// 320x240 x264 stream (tests/fixtures, rtpstreampay framing) and SPSs written by x264enc.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "bun:test";
import { parseSps } from "../../shared/mod.ts";
import { parseSourceSpec } from "../../agent/capture/source_spec.ts";
import { locationFix } from "../../agent/location/location_fix.ts";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { dataflowMetadata, metadataChangeKey, type MetadataOptions } from "../../agent/registration/dataflow_metadata.ts";
import { spsOfRtp, VideoSizeWatch } from "../../agent/registration/video_size.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const FIXTURE = new Uint8Array(readFileSync(new URL("../fixtures/h264_320x240_single_slice.rtp", import.meta.url)));
const PACKETS = new RtpStreamReader().push(FIXTURE);
/** x264enc's SPS for 1280x720 high 4:4:4 (the same as in tests/shared/h264_test.ts). */
const SPS_720P = hex("67f4001f90d9b280a00b7602d40404050000030001000003003c8f183196");

/** A plain 12-byte RTP header (PT 96) followed by `payload`. */
function rtp(payload: Uint8Array, seq = 1): Uint8Array {
  const packet = new Uint8Array(12 + payload.length);
  packet.set([0x80, 96, seq >> 8, seq & 0xff, 0, 0, 0, 0, 0, 0, 0, 1]);
  packet.set(payload, 12);
  return packet;
}

/** A STAP-A (RFC 6184 §5.7.1) holding `nals`. */
function stapA(...nals: Uint8Array[]): Uint8Array {
  const parts = [Uint8Array.of(24), ...nals.flatMap((n) => [Uint8Array.of(n.length >> 8, n.length & 0xff), n])];
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

describe("spsOfRtp()", () => {
  test("finds the SPS rtph264pay put in a STAP-A of the captured stream, and nothing in the slices", () => {
    const found = PACKETS.map(spsOfRtp);
    const withSps = found.filter((sps) => sps !== undefined);
    expect(withSps.length).toBeGreaterThan(0);
    expect(withSps.length).toBeLessThan(PACKETS.length / 10);
    expect(parseSps(withSps[0]!)).toMatchObject({ width: 320, height: 240 });
  });

  test("reads an SPS sent as a single NAL unit packet, and not a PPS, an FU-A or a cut STAP-A", () => {
    expect(spsOfRtp(rtp(SPS_720P))).toEqual(SPS_720P);
    expect(spsOfRtp(rtp(stapA(hex("68ce3c80"), SPS_720P)))).toEqual(SPS_720P);
    expect(spsOfRtp(rtp(hex("68ce3c80")))).toBeUndefined();
    expect(spsOfRtp(rtp(hex("7c87aabbcc")))).toBeUndefined(); // FU-A start of an SPS: not reassembled
    expect(spsOfRtp(rtp(stapA(SPS_720P).subarray(0, 10)))).toBeUndefined();
    expect(spsOfRtp(hex("8060"))).toBeUndefined();
  });
});

describe("VideoSizeWatch", () => {
  test("`observe()` reports the captured stream's 320x240 once, at its first SPS", () => {
    const watch = new VideoSizeWatch();
    expect(watch.current).toBeUndefined();
    const reports = PACKETS.map((p) => watch.observe(p)).filter((size) => size !== undefined);
    expect(reports).toEqual([{ width: 320, height: 240 }]);
    expect(watch.current).toEqual({ width: 320, height: 240 });
  });

  test("`observe()` reports a new size when the source restarts with another SPS", () => {
    const watch = new VideoSizeWatch();
    for (const p of PACKETS) watch.observe(p);
    expect(watch.observe(rtp(SPS_720P))).toEqual({ width: 1280, height: 720 });
    expect(watch.observe(rtp(SPS_720P, 2))).toBeUndefined();
    expect(watch.current).toEqual({ width: 1280, height: 720 });
  });

  test("`observe()` ignores an SPS it cannot parse and keeps the last size", () => {
    const watch = new VideoSizeWatch();
    watch.observe(rtp(SPS_720P));
    expect(watch.observe(rtp(SPS_720P.subarray(0, 8)))).toBeUndefined();
    expect(watch.current).toEqual({ width: 1280, height: 720 });
  });
});

const OPTIONS: MetadataOptions = {
  source: parseSourceSpec("udp:7000"), width: 640, height: 480, fps: 25, bitrate: 1500,
  sourceId: "car-7", sourceType: "vehicle", country: "Spain", licenseType: "profit", licenseGeolimit: "europe",
};
const FIX = locationFix({ lat: 43.295778, lon: -1.980823 });

describe("dataflowMetadata() with a detected size", () => {
  test("registers the flags' size until the SPS is known, then the SPS's", () => {
    expect(dataflowMetadata(OPTIONS, FIX, new Date()).videoInfo).toMatchObject({ width: 640, height: 480 });
    const detected = dataflowMetadata({ ...OPTIONS, videoSize: { width: 320, height: 240 } }, FIX, new Date());
    expect(detected.videoInfo).toMatchObject({ width: 320, height: 240, fps: 25, source: "udp" });
  });
});

describe("metadataChangeKey()", () => {
  test("changes with the size or the location, not with the time", () => {
    const key = metadataChangeKey(dataflowMetadata(OPTIONS, FIX, new Date(1_700_000_000_000)));
    expect(metadataChangeKey(dataflowMetadata(OPTIONS, FIX, new Date(1_700_000_005_000)))).toBe(key);
    const sized = { ...OPTIONS, videoSize: { width: 320, height: 240 } };
    expect(metadataChangeKey(dataflowMetadata(sized, FIX, new Date()))).not.toBe(key);
    const moved = locationFix({ lat: 43.3, lon: -1.98 });
    expect(metadataChangeKey(dataflowMetadata(OPTIONS, moved, new Date()))).not.toBe(key);
  });
});
