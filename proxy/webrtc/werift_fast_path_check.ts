/**
 * The install-time self-check of the werift fast path (./werift_fast_path.ts): each replacement
 * runs beside werift's own member on known inputs, and any difference — in a value, a field, a
 * field's order, a prototype, an SRTP state, or a rejection — throws, naming what differed. It
 * also checks that the fast code is really taken (not everything falling back), so a werift
 * change that silently disables it is noticed too.
 */
import type { HeaderLike } from "./fast_rtp_header.ts";
import type { SrtpFastCounters, SrtpSsrcState } from "./fast_srtp.ts";
import type { StockWerift } from "./werift_fast_path.ts";

/** werift-shaped objects the check needs; made by the caller, which imports werift. */
export interface CheckInputs {
  stock: StockWerift;
  /** The replacements, by the name of the member they replace. */
  fast: {
    deSerialize: (raw: Buffer) => HeaderLike;
    clone: (this: unknown) => unknown;
    decryptRtp: StockWerift["decryptRtp"];
    addPacket: (this: unknown, packet: unknown) => void;
    nackEnabled: () => unknown;
    twccEnabled: () => unknown;
    pliEnabled: () => unknown;
    name: () => unknown;
  };
  fields: readonly string[];
  counters: SrtpFastCounters;
  newHeader(): HeaderLike;
  newPacket(header: HeaderLike, payload: Buffer): unknown;
  newSession(keys: SessionKeys, profile: number): SessionLike;
  isAuthError(error: unknown): boolean;
  newCodec(props: Record<string, unknown>): unknown;
  newReceiver(): unknown;
}

/** Master keys of one SRTP direction pair, as werift's SrtpSession takes them. */
export interface SessionKeys {
  localMasterKey: Buffer;
  localMasterSalt: Buffer;
  remoteMasterKey: Buffer;
  remoteMasterSalt: Buffer;
}

/** What the check uses of werift's SrtpSession. */
export interface SessionLike {
  remoteContext: unknown;
  encrypt(payload: Buffer, header: HeaderLike): Buffer;
}

/** Throws unless `a` and `b` are the same value, deeply: same prototype, own keys in the same order. */
export function assertSame(a: unknown, b: unknown, what: string): void {
  if (Object.is(a, b)) return;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) {
    if (a.equals(b)) return;
    throw new Error(`fast path differs from werift at "${what}" (bytes)`);
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    throw new Error(`fast path differs from werift at "${what}": "${String(a)}" vs "${String(b)}"`);
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) throw new Error(`fast path differs from werift at "${what}" (prototype)`);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.join() !== kb.join()) throw new Error(`fast path differs from werift at "${what}": keys "${ka.join()}" vs "${kb.join()}"`);
  for (const k of ka) assertSame((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${what}.${k}`);
}

/** Both throw (an SRTP authentication error), or both return the same value. */
function sameOutcome(run: (fast: boolean) => unknown, isAuthError: (e: unknown) => boolean, what: string): unknown {
  let stockError: unknown;
  let stockValue: unknown;
  try {
    stockValue = run(false);
  } catch (error) {
    stockError = error ?? new Error("undefined thrown");
  }
  let fastError: unknown;
  let fastValue: unknown;
  try {
    fastValue = run(true);
  } catch (error) {
    fastError = error ?? new Error("undefined thrown");
  }
  if (stockError || fastError) {
    if (!stockError || !fastError) throw new Error(`fast path differs from werift at "${what}": only one of them threw`);
    if (isAuthError(stockError) !== isAuthError(fastError)) throw new Error(`fast path differs from werift at "${what}": other error`);
    return undefined;
  }
  assertSame(fastValue, stockValue, what);
  return fastValue;
}

/** RTP packets a header parser must agree on: the common ones and every fallback case. */
export function probeRtpPackets(): Buffer[] {
  const out: Buffer[] = [];
  const rtp = (b0: number, b1: number, seq: number, extra: number[], payload: number[]) => {
    const b = Buffer.alloc(12);
    b[0] = b0;
    b[1] = b1;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(0xfedcba98, 4);
    b.writeUInt32BE(0x01020304, 8);
    out.push(Buffer.concat([b, Buffer.from(extra), Buffer.from(payload)]));
  };
  rtp(0x80, 96, 1, [], [0x65, 1, 2, 3]); // plain
  rtp(0x80, 0x80 | 97, 0xffff, [], [0x41]); // marker, last sequence number
  rtp(0xa0, 96, 7, [], [0x41, 9, 0, 0, 3]); // padding, 3 octets
  rtp(0x00, 0, 0, [], []); // version 0, empty payload: werift does not check the version
  rtp(0x81, 96, 2, [0, 0, 0, 9], [0x41]); // one CSRC: werift's parser
  rtp(0x90, 96, 3, [0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0], [0x41]); // one-byte extension (RFC 8285 §4.2)
  rtp(0x90, 96, 4, [0xbe, 0xde, 0, 1, 0x31, 0xff, 0xfe, 0], [0x41]); // a transport-wide sequence number
  rtp(0xb0, 96, 5, [0xbe, 0xde, 0, 2, 0, 0x21, 1, 2, 0x43, 9, 8, 7], [0x41, 0, 2]); // padding octets, two elements, RTP padding
  rtp(0x90, 96, 6, [0xbe, 0xde, 0, 1, 0xf0, 0, 0, 0], [0x41]); // id 15: werift's parser stops there
  rtp(0x90, 96, 7, [0xbe, 0xde, 0, 1, 0x17, 1, 2, 3], [0x41, 4, 5, 6, 7]); // element past the block: werift's
  rtp(0x90, 96, 8, [0x10, 0x00, 0, 1, 1, 1, 0xaa, 0], [0x41]); // two-byte profile (RFC 8285 §4.3): werift's
  rtp(0x90, 96, 9, [0xbe, 0xde, 0, 9, 0x10, 0xaa], []); // block past the packet: werift's
  out.push(Buffer.from([0x80, 96, 0, 1, 0])); // too short: werift throws
  return out;
}

function checkHeaders(c: CheckInputs): void {
  assertSame(Object.keys(c.newHeader()), [...c.fields], "RtpHeader fields");
  for (const [i, raw] of probeRtpPackets().entries()) {
    const header = sameOutcome((fast) => (fast ? c.fast.deSerialize : c.stock.deSerialize)(raw), () => true, `RtpHeader.deSerialize #${i}`);
    if (!header) continue;
    const packet = c.newPacket(header as HeaderLike, raw.subarray(12));
    const clone = sameOutcome((fast) => (fast ? c.fast.clone : c.stock.clone).call(packet), () => false, `RtpPacket.clone #${i}`);
    if ((clone as { header?: unknown } | undefined)?.header === header) throw new Error("fast RtpPacket.clone shares the header");
  }
}

/** Sequence numbers across the 16-bit wrap, then in the order they arrive (one late, one early). */
const SEND = [65533, 65534, 65535, 0, 1, 2, 3];
const ARRIVAL = [0, 1, 3, 2, 4, 6, 5];

function checkSrtp(c: CheckInputs, keys: SessionKeys): void {
  const mirrored = { localMasterKey: keys.remoteMasterKey, localMasterSalt: keys.remoteMasterSalt, remoteMasterKey: keys.localMasterKey, remoteMasterSalt: keys.localMasterSalt };
  for (const profile of [7, 1]) {
    const sender = c.newSession(mirrored, profile);
    const stockRx = c.newSession(keys, profile).remoteContext as { srtpSSRCStates: Record<number, SrtpSsrcState> };
    const fastRx = c.newSession(keys, profile).remoteContext as { srtpSSRCStates: Record<number, SrtpSsrcState> };
    const sent = SEND.map((seq, i) => {
      const header = c.newHeader();
      // Every other packet with one-byte extensions, as a publisher sends them (RFC 8285 §4.2).
      const extensions = i % 2 === 0 ? [] : [{ id: 1, payload: Buffer.alloc(8 * (i % 3 === 0 ? 1 : 0) + 2, i) }, { id: 2, payload: Buffer.from([0, i]) }];
      Object.assign(header, { payloadType: 96, sequenceNumber: seq, timestamp: 3000 * i, ssrc: 0x5eed, marker: i % 3 === 0, extensions });
      return sender.encrypt(Buffer.from([0x65, i, 0x88, 0x84, 0x21, i * 7]), header);
    });
    const fastBefore = c.counters.fast;
    for (const [n, at] of ARRIVAL.entries()) {
      const packet = sent[at]!;
      const tampered = Buffer.from(packet);
      tampered[13]! ^= 0x01;
      for (const [kind, bytes] of [["tampered", tampered], ["genuine", packet]] as const) {
        const what = `SRTP profile ${profile} packet ${n} (${kind})`;
        const result = sameOutcome((fast) => (fast ? c.fast.decryptRtp : c.stock.decryptRtp).call((fast ? fastRx : stockRx) as never, Buffer.from(bytes)), c.isAuthError, what);
        if (kind === "tampered" && result !== undefined) throw new Error(`fast path accepted a tampered packet (${what})`);
        if (kind === "genuine" && result === undefined) throw new Error(`werift rejected a genuine packet (${what})`);
        assertSame(fastRx.srtpSSRCStates, stockRx.srtpSSRCStates, `${what}: ROC state`);
      }
    }
    const taken = c.counters.fast - fastBefore;
    // The first packet creates the SSRC's state: werift's own.
    if (taken < SEND.length - 1) throw new Error(`fast SRTP decrypt took ${taken} of ${SEND.length} packets of profile ${profile}`);
  }
}

function checkReceiver(c: CheckInputs): void {
  const h264 = (pt: number, rtcpFeedback: object[]) => c.newCodec({ mimeType: "video/H264", clockRate: 90000, payloadType: pt, rtcpFeedback });
  const rtx = (pt: number) => c.newCodec({ mimeType: "video/rtx", clockRate: 90000, payloadType: pt, parameters: `apt=${pt - 1}` });
  const sets: unknown[][] = [
    [],
    [h264(96, [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }]), rtx(97)],
    [rtx(103), h264(102, [{ type: "transport-cc" }, { type: "goog-remb" }])],
    [h264(35, [])],
  ];
  for (const [i, codecs] of sets.entries()) {
    const receiver = c.newReceiver() as { prepareReceive(p: object): void; nack: { close(): void } };
    receiver.prepareReceive({ codecs, encodings: [] });
    receiver.nack.close();
    for (const key of ["nackEnabled", "twccEnabled", "pliEnabled"] as const) {
      assertSame(c.fast[key].call(receiver), c.stock.getters[key].call(receiver), `receiver.${key} #${i}`);
    }
    for (const codec of codecs) assertSame(c.fast.name.call(codec), c.stock.getters.codecName.call(codec), `codec.name #${i}`);
  }
  const open = c.newReceiver() as { nack: NackLike };
  const twin = c.newReceiver() as { nack: NackLike };
  for (let seq = 10; seq < 13; seq++) {
    const packet = { header: { sequenceNumber: seq, ssrc: 1 } };
    c.fast.addPacket.call(open.nack, packet);
    c.stock.addPacket.call(twin.nack, packet);
  }
  const booked = (n: NackLike) => ({ est: n.newEstSeqNum, ssrc: n.mediaSourceSsrc, lost: n.lostSeqNumbers });
  assertSame(booked(open.nack), booked(twin.nack), "NackHandler while open");
  open.nack.close();
  twin.nack.close();
  if (open.nack.closed !== true) throw new Error("werift's NackHandler has no closed flag");
  c.fast.addPacket.call(open.nack, { header: { sequenceNumber: 20, ssrc: 1 } });
  if (open.nack.newEstSeqNum !== 12) throw new Error("fast NackHandler.addPacket booked a packet after close");
}

/** What the check reads of werift's NackHandler. */
interface NackLike {
  closed: boolean;
  newEstSeqNum: number;
  mediaSourceSsrc: number | undefined;
  lostSeqNumbers: number[];
  close(): void;
}

/** Runs every check; throws on the first difference (werift's own members stay untouched). */
export function checkFastPath(c: CheckInputs, keys: SessionKeys): void {
  checkHeaders(c);
  checkSrtp(c, keys);
  checkReceiver(c);
}
