/**
 * A lean SRTP decrypt for AEAD_AES_128_GCM (RFC 7714), replacing werift 0.25.2's
 * `SrtpContext.decryptRtp` (rtp/src/srtp/context/srtp.ts) for the common packet only. werift's
 * own path parses the header with `getBit()`, copies the state, builds the IV through a
 * generic BufferWriter and allocates twice; this one computes the IV in place and copies once.
 *
 * RFC 7714 §8.2: the RTP header is the associated data, the payload is encrypted, the 16-octet
 * tag follows. Only V=2 with no padding, CSRC or extension is decrypted here (a 12-octet header):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |1 0|0|0|0 0 0 0|M|     PT      |       sequence number         |  AAD
 *   |                           timestamp                           |  AAD
 *   |           synchronization source (SSRC) identifier            |  AAD
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     encrypted payload …                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                authentication tag (16 octets)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * RFC 7714 §8.1: IV = (00 00 ‖ SSRC ‖ ROC ‖ SEQ) XOR the 12-octet session salt.
 *
 * Everything else goes to werift unchanged: another profile (AES-CM, RFC 3711), any other
 * header, an SSRC without state yet (werift creates it), and every packet that fails to
 * authenticate (werift then throws its own SrtpAuthenticationError, and the ROC state stays as
 * it was). The ROC (RFC 3711 §3.3.1) is advanced by werift's own `updateRolloverCount` on a
 * copy of the state, committed only after the tag verified — exactly as werift does.
 */
import { createDecipheriv } from "node:crypto";
import type { HeaderLike } from "./fast_rtp_header.ts";

/** werift's number for SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2: {0x00, 0x07}). */
export const PROFILE_AEAD_AES_128_GCM = 7;
/** RFC 7714 §8.2: AEAD_AES_128_GCM appends a 16-octet tag. */
const TAG_BYTES = 16;
const HEADER_BYTES = 12;

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
  cipher: { srtpSessionKey: Buffer; srtpSessionSalt: Buffer };
  updateRolloverCount(sequenceNumber: number, state: SrtpSsrcState): void;
}

/** werift's `decryptRtp` signature: the plain RTP packet and its parsed header. */
export type DecryptRtp = (this: SrtpContextLike, cipherText: Buffer) => [Buffer, HeaderLike];

/** How packets went (cumulative, process-wide): decrypted here, or handed to werift and why. */
export interface SrtpFastCounters {
  fast: number;
  /** Another SRTP profile (e.g. AES-CM with HMAC-SHA1, which Chromium may pick). */
  otherProfile: number;
  /** Padding, CSRCs, an extension, another version, or too short. */
  otherHeader: number;
  /** The first packet of an SSRC (werift creates its state). */
  newSsrc: number;
  /** The tag did not verify here; werift decided (and rejected, unless it disagrees). */
  authFailed: number;
}

/**
 * Returns a `decryptRtp` for werift's SrtpContext prototype that decrypts the common GCM
 * packet itself and calls `stock` for everything else; `parseHeader` builds the header werift
 * would return beside the packet.
 */
export function leanGcmDecryptRtp(stock: DecryptRtp, parseHeader: (raw: Buffer) => HeaderLike, counters: SrtpFastCounters): DecryptRtp {
  const iv = Buffer.alloc(12);
  return function decryptRtp(this: SrtpContextLike, cipherText: Buffer): [Buffer, HeaderLike] {
    if (this.profile !== PROFILE_AEAD_AES_128_GCM) {
      counters.otherProfile++;
      return stock.call(this, cipherText);
    }
    const len = cipherText.length;
    if (len < HEADER_BYTES + TAG_BYTES || cipherText[0] !== 0x80) {
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
    if (roc > 0xffffffff) return stock.call(this, cipherText); // 2^48 packets in: werift's own IV writer decides
    const { srtpSessionKey: key, srtpSessionSalt: salt } = this.cipher;
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
    decipher.setAAD(cipherText.subarray(0, HEADER_BYTES));
    decipher.setAuthTag(cipherText.subarray(len - TAG_BYTES));
    const plain = decipher.update(cipherText.subarray(HEADER_BYTES, len - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      // Tampered, replayed across a ROC change, or keyed otherwise: werift decides and throws.
      counters.authFailed++;
      return stock.call(this, cipherText);
    }
    // Not pooled: a packet the jitter buffer keeps must not pin a shared 8 KiB slab.
    const dst = Buffer.allocUnsafeSlow(len - TAG_BYTES);
    cipherText.copy(dst, 0, 0, HEADER_BYTES);
    plain.copy(dst, HEADER_BYTES);
    Object.assign(state, next);
    counters.fast++;
    return [dst, parseHeader(dst)];
  };
}
