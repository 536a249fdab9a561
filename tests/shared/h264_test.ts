import { describe, expect, test } from "bun:test";
import {
  isKeyframe,
  joinAnnexB,
  NalType,
  nalType,
  parseSps,
  splitAnnexB,
  unescapeRbsp,
} from "../../shared/h264.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

describe("nalType()", () => {
  test("reads the low five bits of the NAL header", () => {
    expect(nalType(0x67)).toBe(NalType.sps);
    expect(nalType(0x68)).toBe(NalType.pps);
    expect(nalType(0x65)).toBe(NalType.idr);
    expect(nalType(0x41)).toBe(NalType.slice);
    expect(nalType(0x7c)).toBe(NalType.fuA);
    expect(nalType(0x78)).toBe(NalType.stapA);
  });
});

describe("splitAnnexB()", () => {
  test("splits on 3- and 4-byte start codes and drops trailing zero bytes", () => {
    const stream = hex("0000000167aa000001" + "68bb0000" + "0000000165cc03dd");
    expect(splitAnnexB(stream).map((n) => Buffer.from(n).toString("hex"))).toEqual([
      "67aa", "68bb", "65cc03dd",
    ]);
  });

  test("ignores bytes before the first start code and returns views", () => {
    const stream = hex("ffee00000109f0");
    const nals = splitAnnexB(stream);
    expect(nals).toHaveLength(1);
    expect(nals[0]!.buffer).toBe(stream.buffer);
  });

  test("returns nothing for a buffer without start codes", () => {
    expect(splitAnnexB(hex("0102030405"))).toEqual([]);
    expect(splitAnnexB(new Uint8Array(0))).toEqual([]);
  });
});

describe("joinAnnexB()", () => {
  test("round-trips with splitAnnexB()", () => {
    const nals = [hex("6742c0"), hex("68ce3c80"), hex("6588840000030001")];
    const joined = joinAnnexB(nals);
    expect(joined.length).toBe(nals.reduce((n, x) => n + 4 + x.length, 0));
    expect(splitAnnexB(joined)).toEqual(nals);
  });
});

describe("isKeyframe()", () => {
  test("is true only when an IDR slice is present", () => {
    expect(isKeyframe([hex("0910"), hex("6742"), hex("6588")])).toBe(true);
    expect(isKeyframe([hex("0910"), hex("4188")])).toBe(false);
    // An FU-A indicator whose fragment type is 5 is not an IDR NAL: type 28 ≠ 5.
    expect(isKeyframe([hex("7c85")])).toBe(false);
  });
});

describe("unescapeRbsp()", () => {
  test("removes emulation prevention bytes only after two zeros", () => {
    expect(Buffer.from(unescapeRbsp(hex("0000030100000300")))
      .toString("hex")).toBe("000001000000");
    expect(Buffer.from(unescapeRbsp(hex("00030003"))).toString("hex")).toBe("00030003");
  });
});

// SPSs written by x264enc (GStreamer 1.22) for the sizes and formats named.
const SPS = [
  { what: "320x240 constrained baseline", hex: "6742c00dd90141fb016a0c0c0d4a000003000200000300791e285490", w: 320, h: 240, profile: 66 },
  { what: "1920x1080 high (cropped from 1088)", hex: "67640028acd940780227e5c05a808080a0000003002000000791e30632c0", w: 1920, h: 1080, profile: 100 },
  { what: "1280x720 high 4:4:4 10-bit (chroma_format_idc 3)", hex: "67f4001f90d9b280a00b7602d40404050000030001000003003c8f183196", w: 1280, h: 720, profile: 244 },
  { what: "720x576 interlaced (frame_mbs_only 0)", hex: "6764001facd940b4126c05a830303528000003000800000301e478c18cb0", w: 720, h: 576, profile: 100 },
  { what: "322x242 baseline (odd size, right/bottom crop)", hex: "6742c015d90150878888c05a8303035280000003008000001e478b1724", w: 322, h: 242, profile: 66 },
  { what: "640x360 high 4:2:2 (chroma_format_idc 2)", hex: "677a001ebcd940a02ff89c05a8303032000003000200000300791e2c5b2c", w: 640, h: 360, profile: 122 },
];

describe("parseSps()", () => {
  for (const sps of SPS) {
    test(`reads ${sps.what}`, () => {
      const info = parseSps(hex(sps.hex));
      expect(info).toMatchObject({ width: sps.w, height: sps.h, profileIdc: sps.profile });
    });
  }

  test("returns undefined for a cut-short SPS or another NAL type", () => {
    expect(parseSps(hex(SPS[1]!.hex).subarray(0, 8))).toBeUndefined();
    expect(parseSps(hex("68ce3c80"))).toBeUndefined();
    expect(parseSps(new Uint8Array(0))).toBeUndefined();
  });

  test("never throws on random bytes after an SPS header", () => {
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      const bytes = new Uint8Array(1 + (i % 40));
      for (let j = 0; j < bytes.length; j++) bytes[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      bytes[0] = 0x67;
      const info = parseSps(bytes);
      if (info) expect(info.width > 0 && info.height > 0).toBe(true);
    }
  });
});
