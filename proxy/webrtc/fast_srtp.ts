/**
 * A lean SRTP decrypt for the two profiles WebRTC publishers pick, replacing werift 0.25.2's
 * `SrtpContext.decryptRtp` (rtp/src/srtp/context/srtp.ts) for the common packet only:
 * AEAD_AES_128_GCM (RFC 7714; werift's own senders) and AES_CM_128_HMAC_SHA1_80 (RFC 3711;
 * what Chromium and GStreamer webrtcbin negotiate). werift's own path parses the header with
 * `getBit()`, copies the state, builds IVs and counters through generic writers and allocates
 * several times; this one computes them in place and copies once.
 *
 * Only V=2 with no padding or CSRC is decrypted here, with no header extension (a 12-octet
 * header) or a one-byte one that werift reads as written (./fast_rtp_header.ts; the WHIP ingest
 * negotiates abs-capture-time and the transport-wide sequence number, RFC 8285 §4.2):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |1 0|0|X|0 0 0 0|M|     PT      |       sequence number         |  GCM: AAD   CM: authenticated
 *   |                           timestamp                           |
 *   |           synchronization source (SSRC) identifier            |
 *   |  X = 1: 0xBEDE | length, then the one-byte elements (clear)   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     encrypted payload …                       |  both: encrypted
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |       GCM: tag (16 octets)   |   CM: HMAC-SHA1 tag (10 octets) |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * - GCM, RFC 7714 §8.1: IV = (00 00 ‖ SSRC ‖ ROC ‖ SEQ) XOR the 12-octet session salt.
 * - CM, RFC 3711 §4.2.1 and §4.2: tag = HMAC-SHA1(auth key, packet ‖ ROC) cut to 10 octets,
 *   checked first; counter IV = (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16), the index
 *   being ROC ‖ SEQ.
 *
 * Everything else goes to werift unchanged: another profile, any other header, an SSRC without
 * state yet (werift creates it), and every packet that fails to authenticate (werift then
 * throws its own SrtpAuthenticationError, and the ROC state stays as it was). The ROC
 * (RFC 3711 §3.3.1) is advanced by werift's own `updateRolloverCount` on a copy of the state,
 * committed only after the tag verified — exactly as werift does.
 */
import { createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { type HeaderLike, oneByteExtensionEnd } from "./fast_rtp_header.ts";

/** werift's number for SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2: {0x00, 0x07}). */
export const PROFILE_AEAD_AES_128_GCM = 7;
/** werift's number for SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764 §4.1.2: {0x00, 0x01}). */
export const PROFILE_AES128_CM_HMAC_SHA1_80 = 1;
/** RFC 7714 §8.2: AEAD_AES_128_GCM appends a 16-octet tag. */
const GCM_TAG_BYTES = 16;
/** RFC 3711 §5.2: HMAC-SHA1 cut to 80 bits. */
const CM_TAG_BYTES = 10;
const HEADER_BYTES = 12;
/** First octet of V=2 with no padding, extension or CSRC, and with the extension bit. */
const PLAIN_B0 = 0x80;
const EXTENDED_B0 = 0x90;

/** werift's per-SSRC SRTP state. */
export interface SrtpSsrcState {
  ssrc: number;
  rolloverCounter: number;
  lastSequenceNumber: number;
  rolloverHasProcessed?: boolean;
}

/** What the lean decrypt reads of werift's SrtpContext (its `this`). */
export interface SrtpContextLike {
  profile: number;
  srtpSSRCStates: Record<number, SrtpSsrcState>;
  /** `srtpSessionAuthTag` is werift's name for the CM profile's session authentication key. */
  cipher: { srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag?: Buffer };
  updateRolloverCount(sequenceNumber: number, state: SrtpSsrcState): void;
}

/** werift's `decryptRtp` signature: the plain RTP packet and its parsed header. */
export type DecryptRtp = (this: SrtpContextLike, cipherText: Buffer) => [Buffer, HeaderLike];

/** How packets went (cumulative, process-wide): decrypted here, or handed to werift and why. */
export interface SrtpFastCounters {
  fast: number;
  /** Another SRTP profile than AES-GCM and AES-CM with HMAC-SHA1-80. */
  otherProfile: number;
  /** Padding, CSRCs, an extension other than a plain one-byte block, another version, or too short. */
  otherHeader: number;
  /** The first packet of an SSRC (werift creates its state). */
  newSsrc: number;
  /** The tag did not verify here; werift decided (and rejected, unless it disagrees). */
  authFailed: number;
}

/**
 * Returns a `decryptRtp` for werift's SrtpContext prototype that decrypts the common GCM and
 * AES-CM packet itself and calls `stock` for everything else; `parseHeader` builds the header
 * werift would return beside the packet.
 */
export function leanDecryptRtp(stock: DecryptRtp, parseHeader: (raw: Buffer) => HeaderLike, counters: SrtpFastCounters): DecryptRtp {
  return function decryptRtp(this: SrtpContextLike, cipherText: Buffer): [Buffer, HeaderLike] {
    const gcm = this.profile === PROFILE_AEAD_AES_128_GCM;
    if (!gcm && (this.profile !== PROFILE_AES128_CM_HMAC_SHA1_80 || !this.cipher.srtpSessionAuthTag)) {
      counters.otherProfile++;
      return stock.call(this, cipherText);
    }
    const len = cipherText.length;
    const tag = gcm ? GCM_TAG_BYTES : CM_TAG_BYTES;
    const b0 = cipherText[0];
    // The header is sent in the clear; werift parses it from the packet without its tag.
    const header = len < HEADER_BYTES + tag ? undefined
      : b0 === PLAIN_B0 ? HEADER_BYTES
      : b0 === EXTENDED_B0 ? oneByteExtensionEnd(cipherText, len - tag)
      : undefined;
    if (header === undefined) {
      counters.otherHeader++;
      return stock.call(this, cipherText);
    }
    const state = this.srtpSSRCStates[cipherText.readUInt32BE(8)];
    if (state === undefined) {
      counters.newSsrc++;
      return stock.call(this, cipherText);
    }
    const next = { ...state };
    this.updateRolloverCount(cipherText.readUInt16BE(2), next);
    const roc = next.rolloverCounter;
    if (roc > 0xffffffff) return stock.call(this, cipherText); // 2^48 packets in: werift's own writers decide
    const dst = gcm ? gcmDecrypt(this.cipher, cipherText, roc, header) : cmDecrypt(this.cipher, cipherText, roc, header);
    if (dst === undefined) {
      // Tampered, replayed across a ROC change, or keyed otherwise: werift decides and throws.
      counters.authFailed++;
      return stock.call(this, cipherText);
    }
    Object.assign(state, next);
    counters.fast++;
    return [dst, parseHeader(dst)];
  };
}

const gcmIv = Buffer.alloc(12);

/** The plain packet (`header` octets ‖ payload), or undefined when the GCM tag does not verify. */
function gcmDecrypt(cipher: SrtpContextLike["cipher"], cipherText: Buffer, roc: number, header: number): Buffer | undefined {
  const len = cipherText.length;
  const { srtpSessionKey: key, srtpSessionSalt: salt } = cipher;
  const iv = gcmIv;
  iv[0] = salt[0]!;
  iv[1] = salt[1]!;
  for (let i = 0; i < 4; i++) iv[2 + i] = cipherText[8 + i]! ^ salt[2 + i]!;
  iv[6] = (roc >>> 24) ^ salt[6]!;
  iv[7] = ((roc >>> 16) & 0xff) ^ salt[7]!;
  iv[8] = ((roc >>> 8) & 0xff) ^ salt[8]!;
  iv[9] = (roc & 0xff) ^ salt[9]!;
  iv[10] = cipherText[2]! ^ salt[10]!;
  iv[11] = cipherText[3]! ^ salt[11]!;
  const decipher = createDecipheriv("aes-128-gcm", key, iv);
  decipher.setAAD(cipherText.subarray(0, header));
  decipher.setAuthTag(cipherText.subarray(len - GCM_TAG_BYTES));
  const plain = decipher.update(cipherText.subarray(header, len - GCM_TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return withHeader(cipherText, plain, len - GCM_TAG_BYTES, header);
}

const cmCounter = Buffer.alloc(16);
const cmRoc = Buffer.alloc(4);

/** The plain packet (`header` octets ‖ payload), or undefined when the HMAC-SHA1-80 tag does not verify. */
function cmDecrypt(cipher: SrtpContextLike["cipher"], cipherText: Buffer, roc: number, header: number): Buffer | undefined {
  const end = cipherText.length - CM_TAG_BYTES;
  const hmac = createHmac("sha1", cipher.srtpSessionAuthTag!);
  hmac.update(cipherText.subarray(0, end));
  cmRoc.writeUInt32BE(roc);
  hmac.update(cmRoc);
  if (!timingSafeEqual(hmac.digest().subarray(0, CM_TAG_BYTES), cipherText.subarray(end))) return undefined;
  const { srtpSessionKey: key, srtpSessionSalt: salt } = cipher;
  const iv = cmCounter;
  iv.fill(0);
  for (let i = 0; i < 4; i++) iv[4 + i] = cipherText[8 + i]!; // SSRC · 2^64
  iv.writeUInt32BE(roc, 8); // index = ROC ‖ SEQ, · 2^16
  iv[12] = cipherText[2]!;
  iv[13] = cipherText[3]!;
  for (let i = 0; i < salt.length && i < 16; i++) iv[i]! ^= salt[i]!; // salt (14 octets) · 2^16
  const plain = createDecipheriv("aes-128-ctr", key, iv).update(cipherText.subarray(header, end));
  return withHeader(cipherText, plain, end, header);
}

/** A new buffer of `size` octets: the packet's first `header` octets, then `plain`. */
function withHeader(cipherText: Buffer, plain: Buffer, size: number, header: number): Buffer {
  // Not pooled: a packet the jitter buffer keeps must not pin a shared 8 KiB slab.
  const dst = Buffer.allocUnsafeSlow(size);
  cipherText.copy(dst, 0, 0, header);
  plain.copy(dst, header);
  return dst;
}
