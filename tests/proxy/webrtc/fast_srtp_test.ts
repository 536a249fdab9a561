// The lean SRTP decrypt (proxy/webrtc/fast_srtp.ts), AES-GCM and AES-CM (the profile Chromium
// and webrtcbin pick), against werift's own decryptRtp as shipped: a long stream across two
// 16-bit sequence wraps (ROC 0 → 2, RFC 3711 §3.3.1), reordered, duplicated and with losses,
// most packets with one-byte header extensions (a transport-wide sequence number, some with
// abs-capture-time too), must give the same packets, headers and ROC state packet by packet;
// tampered packets are rejected with werift's error and change no state; unusual headers and
// other profiles go to werift.
import { beforeAll, describe, expect, test } from "bun:test";
import { RtpHeader, SrtpAuthenticationError, SrtpSession } from "werift";
import { oneByteExtensionEnd } from "../../../proxy/webrtc/fast_rtp_header.ts";
import { PROBE_KEYS, srtpFastCounters, stockWerift } from "../../../proxy/webrtc/werift_fast_path.ts";
import { assertSame } from "../../../proxy/webrtc/werift_fast_path_check.ts";
import { ensureFastPath, withStockWerift } from "./stock_werift.ts";

beforeAll(ensureFastPath);

const GCM = 7;
const AES_CM = 1;
const mirrored = {
  localMasterKey: PROBE_KEYS.remoteMasterKey, localMasterSalt: PROBE_KEYS.remoteMasterSalt,
  remoteMasterKey: PROBE_KEYS.localMasterKey, remoteMasterSalt: PROBE_KEYS.localMasterSalt,
};

type Context = { srtpSSRCStates: Record<number, unknown>; decryptRtp(b: Buffer): [Buffer, unknown] };
const session = (profile: number, keys = PROBE_KEYS) => new SrtpSession({ keys, profile } as never);
const receiver = (profile: number) => (session(profile) as unknown as { remoteContext: Context }).remoteContext;

/**
 * One-byte header extensions (RFC 8285 §4.2) of packet `i`: none for every third, a transport-wide
 * sequence number (2 octets) for the others, and abs-capture-time (8 octets) before it on every
 * seventh, as a WHIP publisher with transport-cc sends them.
 */
function extensionsOf(i: number): { id: number; payload: Buffer }[] {
  if (i % 3 === 0) return [];
  const twcc = { id: 3, payload: Buffer.from([(i >> 8) & 0xff, i & 0xff]) };
  return i % 7 === 0 ? [{ id: 1, payload: Buffer.alloc(8, i & 0xff) }, twcc] : [twcc];
}

/** A sender's packets with sequence numbers from `firstSeq` on (ROC advanced by werift's sender). */
function sendStream(profile: number, count: number, firstSeq: number, ssrc = 0x1234abcd): Buffer[] {
  const tx = session(profile, mirrored);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const header = new RtpHeader({
      payloadType: 96, sequenceNumber: (firstSeq + i) & 0xffff, timestamp: (i * 3000) >>> 0, ssrc, marker: i % 5 === 4, extensions: extensionsOf(i),
    });
    const payload = Buffer.alloc(8 + (i % 40));
    payload.writeUInt32BE(i, 0);
    payload[4] = 0x65;
    out.push(tx.encrypt(payload, header));
  }
  return out;
}

/** Moves packet `i` to just after packet `after` in `order`. */
function move(order: number[], i: number, after: number): void {
  order.splice(order.indexOf(i), 1);
  order.splice(order.indexOf(after) + 1, 0, i);
}

/**
 * Arrival order: pairs swapped, some packets 30 late, some twice, some lost (deterministic), and
 * at each wrap (`wraps`: indices of the packets with sequence number 0) one packet from before
 * it arriving after it and one from after it arriving before it.
 */
function arrival(count: number, wraps: number[]): number[] {
  const order: number[] = [];
  const late: number[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 997 === 0 && i > 0) continue; // lost
    if (i % 499 === 0 && i > 0) {
      late.push(i);
      continue;
    }
    order.push(i);
    if (i % 733 === 0) order.push(i); // duplicate
    if (late.length && i - late[0]! >= 30) order.push(late.shift()!);
  }
  for (let k = 0; k + 1 < order.length; k += 17) [order[k], order[k + 1]] = [order[k + 1]!, order[k]!];
  order.push(...late);
  for (const w of wraps) {
    move(order, w - 1, w + 2); // 65535 after 0, 1, 2
    move(order, w + 4, w - 4); // 4 before 65532
  }
  return order;
}

/** Decrypts `packet` on `ctx`: the result, or "rejected" for werift's authentication error. */
function decrypt(ctx: Context, packet: Buffer): unknown {
  try {
    return ctx.decryptRtp(Buffer.from(packet));
  } catch (error) {
    if (error instanceof SrtpAuthenticationError) return "rejected";
    throw error;
  }
}

describe("lean SRTP decrypt", () => {
  test("is installed on werift's SRTP context", () => {
    expect((stockWerift().srtpContextProto as { decryptRtp: unknown }).decryptRtp).not.toBe(stockWerift().decryptRtp);
  });

  for (const [name, profile] of [["AES-GCM", GCM], ["AES-CM", AES_CM]] as const) {
  test(`${name}: equals werift's decryptRtp packet by packet over 75 000 packets across two sequence wraps, reordered`, () => {
    const count = 75_000;
    const packets = sendStream(profile, count, 60_000);
    const order = arrival(count, [65_536 - 60_000, 2 * 65_536 - 60_000]);
    const stockRx = receiver(profile);
    const fastRx = receiver(profile);
    const fastBefore = srtpFastCounters.fast;
    const stock = withStockWerift(() => order.map((i) => [decrypt(stockRx, packets[i]!), structuredClone(stockRx.srtpSSRCStates)]));
    let mismatches = 0;
    for (const [n, i] of order.entries()) {
      const got = [decrypt(fastRx, packets[i]!), structuredClone(fastRx.srtpSSRCStates)];
      try {
        assertSame(got, stock[n], `arrival ${n} (packet ${i})`);
      } catch (error) {
        if (++mismatches <= 3) console.error(String(error));
      }
    }
    expect(mismatches).toBe(0);
    expect(Object.values(stockRx.srtpSSRCStates)).toEqual([expect.objectContaining({ rolloverCounter: 2 })]);
    expect(stock.filter(([r]) => r === "rejected").length).toBe(0);
    expect(srtpFastCounters.fast - fastBefore).toBeGreaterThan(order.length - 10);
    // The stream really has extensions: werift's header of an extended packet lists them.
    const extended = stock.find(([r], n) => order[n]! % 7 === 0 && order[n]! % 3 !== 0)![0] as [Buffer, { extensions: { id: number }[] }];
    expect(extended[0][0]).toBe(0x90);
    expect(extended[1].extensions.map((e) => e.id)).toEqual([1, 3]);
  }, 30_000);

  test(`${name}: rejects tampered packets like werift (header, payload, tag, ROC) and keeps the ROC state`, () => {
    const packets = sendStream(profile, 40, 65_530);
    const rx = receiver(profile);
    const failedBefore = srtpFastCounters.authFailed;
    let rejected = 0;
    let toWerift = 0;
    const tagBytes = profile === GCM ? 16 : 10;
    for (const [i, packet] of packets.entries()) {
      // 17: an extension element's data (of a packet with extensions), or the payload.
      for (const at of [1, 3, 8, 12, 17, packet.length - 20, packet.length - 1]) {
        const bad = Buffer.from(packet);
        bad[at]! ^= 1 << (i % 8);
        // A changed SSRC has no state, a broken extension block is not the lean path's: werift's.
        const brokenBlock = bad[0] === 0x90 && oneByteExtensionEnd(bad, bad.length - tagBytes) === undefined;
        if (i > 0 && ((at >= 8 && at < 12) || brokenBlock)) toWerift++;
        const before = structuredClone(rx.srtpSSRCStates);
        if (decrypt(rx, bad) === "rejected") rejected++;
        expect(rx.srtpSSRCStates).toEqual(before);
      }
      expect(decrypt(rx, packet)).not.toBe("rejected");
    }
    expect(rejected).toBe(packets.length * 7);
    // werift itself decides the first packet (no SSRC state yet) and a changed SSRC (none either).
    expect(srtpFastCounters.authFailed - failedBefore).toBe((packets.length - 1) * 7 - toWerift);
    expect(toWerift).toBeGreaterThan(packets.length); // the extension profile (octet 12) was hit too
    // A packet from before the wrap, replayed after it: werift's answer (it keeps no replay list).
    const replay = decrypt(rx, packets[0]!);
    const stockReplay = withStockWerift(() => {
      const twin = receiver(profile);
      for (const p of packets) decrypt(twin, p);
      return decrypt(twin, packets[0]!);
    });
    expect(replay).toEqual(stockReplay);
  });
  }

  test("hands unusual headers (CSRCs, padding, a two-byte extension, an element with id 15) to werift in both profiles, with werift's results", () => {
    const oddFor = (profile: number) => {
      const other = session(profile, mirrored);
      return [
        new RtpHeader({ payloadType: 96, sequenceNumber: 1, ssrc: 0x1234abcd, csrc: [1, 2] }),
        new RtpHeader({ payloadType: 96, sequenceNumber: 2, ssrc: 0x1234abcd, padding: true, paddingSize: 4 }),
        new RtpHeader({ payloadType: 96, sequenceNumber: 3, ssrc: 0x1234abcd, extensionProfile: 0x1000, extensions: [{ id: 1, payload: Buffer.from([7]) }] }),
        new RtpHeader({ payloadType: 96, sequenceNumber: 4, ssrc: 0x1234abcd, extensions: [{ id: 15, payload: Buffer.from([7]) }] }),
      ].map((h) => other.encrypt(Buffer.from([0x65, 1, 2, 3, 0, 0, 0, 4].slice(0, h.padding ? 8 : 4)), h));
    };
    const odd: Record<number, Buffer[]> = { [GCM]: oddFor(GCM), [AES_CM]: oddFor(AES_CM) };
    const run = () => [GCM, AES_CM].flatMap((profile) => {
      const rx = receiver(profile);
      return odd[profile]!.map((p) => decrypt(rx, p));
    });
    const before = { ...srtpFastCounters };
    const stock = withStockWerift(run);
    const fast = run();
    assertSame(fast, stock, "fallbacks");
    // werift's own id-15 packet under GCM: werift's parser stops at the id, so it authenticates a
    // shorter header than it sent and rejects the packet; the fallback keeps even that.
    expect(stock.map((r) => r === "rejected")).toEqual([false, false, false, true, false, false, false, false]);
    expect(srtpFastCounters.otherHeader - before.otherHeader).toBe(8);
    expect(srtpFastCounters.fast).toBe(before.fast);
  });

  test("SrtpSession.decrypt (what werift's DTLS transport calls) returns werift's plain packet", () => {
    const packets = sendStream(GCM, 300, 65_400);
    const expected = withStockWerift(() => {
      const rx = session(GCM);
      return packets.map((p) => rx.decrypt(Buffer.from(p)));
    });
    const rx = session(GCM);
    const got = packets.map((p) => rx.decrypt(Buffer.from(p)));
    assertSame(got, expected, "decrypt");
    // A fresh buffer of its own: the datagram is not written to, and nothing else shares it.
    const input = Buffer.from(sendStream(GCM, 2, 7)[1]!);
    const copy = Buffer.from(input);
    const rx2 = session(GCM);
    rx2.decrypt(Buffer.from(sendStream(GCM, 1, 7)[0]!));
    const out = rx2.decrypt(input);
    expect(input).toEqual(copy);
    expect(out.buffer).not.toBe(input.buffer);
  });
});
