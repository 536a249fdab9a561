import { describe, expect, test } from "bun:test";
import { decodeAbsCaptureTime, encodeAbsCaptureTime, NTP_UNIX_OFFSET_S, ntpToUnixMs, unixMsToNtp } from "../../shared/mod.ts";

const TWO_32 = 2 ** 32;
/** 2036-02-07T06:28:16Z: NTP era 1 begins, NTP seconds wrap to 0 (RFC 5905 §6). */
const ERA1_MS = (TWO_32 - NTP_UNIX_OFFSET_S) * 1000;

describe("unixMsToNtp() / ntpToUnixMs()", () => {
  test("the Unix epoch is NTP second 2208988800 (RFC 5905 Figure 4), half a second is fraction 2^31", () => {
    expect(unixMsToNtp(0)).toEqual({ seconds: NTP_UNIX_OFFSET_S, fraction: 0 });
    expect(unixMsToNtp(500)).toEqual({ seconds: NTP_UNIX_OFFSET_S, fraction: 2 ** 31 });
    expect(ntpToUnixMs(NTP_UNIX_OFFSET_S, 2 ** 31, 0)).toBe(500);
  });

  test("round-trips a 2026 time to well under a microsecond", () => {
    const ms = Date.UTC(2026, 11, 7, 10, 0, 0) + 123.456789;
    const { seconds, fraction } = unixMsToNtp(ms);
    expect(Math.abs(ntpToUnixMs(seconds, fraction, ms + 5000) - ms)).toBeLessThan(0.001);
  });

  test("across the 2036 wrap: seconds restart at 0, and the reader's clock picks the era", () => {
    const after = ERA1_MS + 5_250; // 5.25 s into era 1
    expect(unixMsToNtp(after)).toEqual({ seconds: 5, fraction: 2 ** 30 });
    expect(ntpToUnixMs(5, 2 ** 30, after + 200)).toBeCloseTo(after, 6);
    // A stamp taken just before the wrap, read just after it, stays in era 0.
    const before = ERA1_MS - 100;
    const ntp = unixMsToNtp(before);
    expect(ntp.seconds).toBe(TWO_32 - 1);
    expect(ntpToUnixMs(ntp.seconds, ntp.fraction, ERA1_MS + 150)).toBeCloseTo(before, 6);
  });
});

describe("encodeAbsCaptureTime() / decodeAbsCaptureTime()", () => {
  test("8 bytes, big-endian seconds then fraction; decoded back; a 16-byte form's clock offset is ignored", () => {
    const payload = encodeAbsCaptureTime(500);
    expect([...payload]).toEqual([0x83, 0xaa, 0x7e, 0x80, 0x80, 0, 0, 0]);
    expect(decodeAbsCaptureTime(payload, 0)).toBe(500);
    const extended = new Uint8Array(16);
    extended.set(payload);
    extended.fill(0xff, 8);
    expect(decodeAbsCaptureTime(extended, 0)).toBe(500);
  });

  test("a payload of another length is not one", () => {
    expect(decodeAbsCaptureTime(new Uint8Array(7), 0)).toBeUndefined();
    expect(decodeAbsCaptureTime(new Uint8Array(9), 0)).toBeUndefined();
  });
});
