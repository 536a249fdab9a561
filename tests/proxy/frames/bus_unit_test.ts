// unitOfMessage() and BusGapGuard: a frame message back into an access unit, and the guard that
// keeps a remote viewer's stream decodable across missing frame numbers.
import { describe, expect, test } from "bun:test";
import { CAPTURE_TIME_SOURCE, HEADER } from "../../../shared/mod.ts";
import { BusGapGuard, unitOfMessage } from "../../../proxy/frames/bus_unit.ts";

const IDR = Uint8Array.from([0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84]);
const P = Uint8Array.from([0, 0, 0, 1, 0x41, 0x9a, 0x02]);

function headers(seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { [HEADER.seq]: seq, [HEADER.rtpTimestamp]: 3000 * seq, [HEADER.receiveTime]: 1_700_000_000_000, [HEADER.width]: 320, [HEADER.height]: 240, ...extra };
}

describe("unitOfMessage()", () => {
  test("reads seq, timestamp, size and NAL units; the keyframe flag comes from the NAL types, not the header", () => {
    const unit = unitOfMessage(IDR, headers(7, { [HEADER.keyframe]: false }))!;
    expect(unit).toMatchObject({ seq: 7, rtpTimestamp: 21_000, keyframe: true, width: 320, height: 240, firstPacketArrivalMs: 1_700_000_000_000 });
    expect(unit.nals.map((n) => n[0]! & 0x1f)).toEqual([7, 8, 5]);
    expect(unit.data).toBe(IDR);
    expect(unitOfMessage(P, headers(8, { [HEADER.keyframe]: true }))!.keyframe).toBe(false);
  });

  test("takes the capture time only when it is the sender's", () => {
    const sender = unitOfMessage(P, headers(1, { [HEADER.captureTime]: 123, [HEADER.captureTimeSource]: CAPTURE_TIME_SOURCE.sender }))!;
    expect(sender.captureTimeMs).toBe(123);
    const receive = unitOfMessage(P, headers(1, { [HEADER.captureTime]: 123, [HEADER.captureTimeSource]: CAPTURE_TIME_SOURCE.receive }))!;
    expect(receive.captureTimeMs).toBeUndefined();
  });

  test("refuses a message without frame headers or without NAL units", () => {
    expect(unitOfMessage(P, {})).toBeUndefined();
    expect(unitOfMessage(P, headers(-1))).toBeUndefined();
    expect(unitOfMessage(P, headers(1, { [HEADER.rtpTimestamp]: 2 ** 32 }))).toBeUndefined();
    expect(unitOfMessage(new Uint8Array(0), headers(1))).toBeUndefined();
    expect(unitOfMessage(Uint8Array.from([1, 2, 3, 4]), headers(1))).toBeUndefined();
  });
});

describe("BusGapGuard", () => {
  const f = (seq: number, keyframe = false) => ({ seq, keyframe });

  test("passes a contiguous stream, the first frames too (the viewers wait for their keyframe themselves)", () => {
    const guard = new BusGapGuard();
    expect([f(4), f(5, true), f(6)].map((u) => guard.admit(u))).toEqual([true, true, true]);
    expect([guard.missing, guard.toKeyframe]).toEqual([0, 0]);
  });

  test("a jump counts the missing numbers and holds P-frames back until the next keyframe", () => {
    const guard = new BusGapGuard();
    expect([f(0, true), f(1), f(5), f(6), f(7, true), f(8)].map((u) => guard.admit(u))).toEqual([true, true, false, false, true, true]);
    expect(guard.missing).toBe(3);
    expect(guard.toKeyframe).toBe(2);
  });

  test("after resync() (a new subscription) and after seq went back (the owner restarted) it waits for a keyframe", () => {
    const guard = new BusGapGuard();
    guard.admit(f(10, true));
    guard.resync();
    expect([f(20), f(21, true)].map((u) => guard.admit(u))).toEqual([false, true]);
    expect(guard.missing).toBe(0); // the frames before a subscription are not this replica's loss
    expect([f(0), f(1, true), f(2)].map((u) => guard.admit(u))).toEqual([false, true, true]);
    expect(guard.missing).toBe(0);
    expect(guard.toKeyframe).toBe(2);
  });
});
