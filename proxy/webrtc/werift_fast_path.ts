/**
 * Installs the proxy's replacements for werift's per-RTP-packet hot spots, once per process:
 * header parse and packet clone (./fast_rtp_header.ts), SRTP decrypt (AES-GCM and AES-CM)
 * (./fast_srtp.ts) and the receiver's per-packet getters (./fast_receiver.ts). Together
 * they take werift's work per received packet from ~25 to ~9 µs (README "Performance").
 *
 * They patch werift's classes, so they are tied to its internals: they go in only when werift
 * is exactly the pinned version, every patched member exists, and each replacement gives
 * werift's own answer on known inputs (checked right before installing). Otherwise one warning
 * is logged and werift runs as shipped. Each replacement itself falls back to werift for
 * anything but the common case, so results never change, only the cost.
 */
import {
  RTCRtpCodecParameters,
  RTCRtpReceiver,
  RtpHeader,
  RtpPacket,
  SrtpAuthenticationError,
  SrtpSession,
  usePLI,
  useTWCC,
} from "werift";
import type { Logger } from "../log.ts";
import { fastFeedbackGetter, fastCodecName, skipWhenClosed } from "./fast_receiver.ts";
import { fastRtpHeaderParser, fastRtpPacketClone, type HeaderLike, RTP_HEADER_FIELDS } from "./fast_rtp_header.ts";
import { type DecryptRtp, leanDecryptRtp, PROFILE_AEAD_AES_128_GCM, type SrtpFastCounters } from "./fast_srtp.ts";
import { type CheckInputs, checkFastPath, type SessionLike } from "./werift_fast_path_check.ts";
// @ts-ignore: werift's "exports" has no ./package.json for tsc; Bun resolves it (and embeds it when compiling)
import weriftPackage from "werift/package.json" with { type: "json" };

/** The werift release these replacements were written against and checked with (package.json pins it). */
export const PINNED_WERIFT_VERSION = "0.25.2";

/** One patched member: where it lives, its name, werift's descriptor and ours. */
interface Patch {
  target: object;
  key: string;
  stock: PropertyDescriptor;
  fast: PropertyDescriptor;
}

/** werift's members the fast path replaces, as werift ships them (tests compare against these). */
export interface StockWerift {
  deSerialize: (raw: Buffer) => HeaderLike;
  clone: (this: unknown) => unknown;
  decryptRtp: DecryptRtp;
  addPacket: (this: unknown, packet: unknown) => void;
  /** The prototype of werift's SRTP context (not exported by werift; reached through a session). */
  srtpContextProto: object;
  nackHandlerProto: object;
  getters: { nackEnabled: () => unknown; twccEnabled: () => unknown; pliEnabled: () => unknown; codecName: () => unknown };
}

/** How SRTP packets went since start-up (see {@link SrtpFastCounters}). */
export const srtpFastCounters: SrtpFastCounters = { fast: 0, otherProfile: 0, otherHeader: 0, newSsrc: 0, authFailed: 0 };

/** Fixed keys for the install-time probes; any 16/12-octet values do. */
export const PROBE_KEYS = {
  localMasterKey: Buffer.alloc(16, 0x11), localMasterSalt: Buffer.alloc(12, 0x22),
  remoteMasterKey: Buffer.alloc(16, 0x33), remoteMasterSalt: Buffer.alloc(12, 0x44),
};

function descriptor(target: object, key: string): PropertyDescriptor {
  const d = Object.getOwnPropertyDescriptor(target, key);
  if (!d) throw new Error(`werift has no "${key}" where the fast path expects it`);
  return d;
}

function getterOf(target: object, key: string): () => unknown {
  const get = descriptor(target, key).get;
  if (typeof get !== "function") throw new Error(`werift's "${key}" is not a getter`);
  return get;
}

function methodOf<F>(target: object, key: string): F {
  const value = descriptor(target, key).value;
  if (typeof value !== "function") throw new Error(`werift's "${key}" is not a function`);
  return value as F;
}

/** Reaches werift's members (throws naming the first one missing). */
function findStock(): StockWerift {
  const session = new SrtpSession({ keys: PROBE_KEYS, profile: PROFILE_AEAD_AES_128_GCM } as never) as unknown as { remoteContext: object };
  const srtpContextProto = Object.getPrototypeOf(session.remoteContext) as object;
  const receiver = new RTCRtpReceiver({ debug: {} } as never, "video", 1) as unknown as { nack: object };
  const nackHandlerProto = Object.getPrototypeOf(receiver.nack) as object;
  const rp = RTCRtpReceiver.prototype;
  return {
    deSerialize: methodOf(RtpHeader, "deSerialize"),
    clone: methodOf(RtpPacket.prototype, "clone"),
    decryptRtp: methodOf(srtpContextProto, "decryptRtp"),
    addPacket: methodOf(nackHandlerProto, "addPacket"),
    srtpContextProto,
    nackHandlerProto,
    getters: {
      nackEnabled: getterOf(rp, "nackEnabled"),
      twccEnabled: getterOf(rp, "twccEnabled"),
      pliEnabled: getterOf(rp, "pliEnabled"),
      codecName: getterOf(RTCRtpCodecParameters.prototype, "name"),
    },
  };
}

function plan(stock: StockWerift): Patch[] {
  const headerProto = RtpHeader.prototype;
  const parse = fastRtpHeaderParser(headerProto, stock.deSerialize);
  const data = (target: object, key: string, value: unknown): Patch => {
    const d = descriptor(target, key);
    return { target, key, stock: d, fast: { ...d, value } };
  };
  const getter = (target: object, key: string, get: () => unknown): Patch => {
    const d = descriptor(target, key);
    return { target, key, stock: d, fast: { ...d, get } };
  };
  const rp = RTCRtpReceiver.prototype;
  const g = stock.getters;
  return [
    data(RtpHeader, "deSerialize", parse),
    data(RtpPacket.prototype, "clone", fastRtpPacketClone(headerProto, RtpPacket as never, stock.clone as never)),
    data(stock.srtpContextProto, "decryptRtp", leanDecryptRtp(stock.decryptRtp, parse, srtpFastCounters)),
    data(stock.nackHandlerProto, "addPacket", skipWhenClosed(stock.addPacket as never)),
    getter(rp, "nackEnabled", fastFeedbackGetter("nack", g.nackEnabled as never) as never),
    getter(rp, "twccEnabled", fastFeedbackGetter(useTWCC().type, g.twccEnabled as never) as never),
    getter(rp, "pliEnabled", fastFeedbackGetter(usePLI().type, g.pliEnabled as never) as never),
    getter(RTCRtpCodecParameters.prototype, "name", fastCodecName(g.codecName as never) as never),
  ];
}

/** werift's version from its package.json, beside the entry the proxy imports (lib/index.mjs; lib/webrtc/src/index.js for require). */
function weriftVersion(): string {
  // Imported, not read from disk: `bun build --compile` embeds it (there is no node_modules
  // beside an installed binary).
  return weriftPackage.version;
}

let stockMembers: StockWerift | undefined;
let patches: Patch[] | undefined;
let status: { installed: boolean; reason?: string } | undefined;

/** werift's own members, found on first use (before anything is patched). */
export function stockWerift(): StockWerift {
  stockMembers ??= findStock();
  return stockMembers;
}

/** Options of {@link installWeriftFastPath}. */
export interface InstallOptions {
  /** werift's version as installed; default: read from werift's package.json. */
  version?: string;
}

/** The self-check's inputs: werift's own members and classes, and the replacements `fast`. */
export function checkInputsOf(stock: StockWerift, fast: CheckInputs["fast"]): CheckInputs {
  return {
    stock,
    fast,
    fields: RTP_HEADER_FIELDS,
    counters: srtpFastCounters,
    newHeader: () => new RtpHeader() as unknown as HeaderLike,
    newPacket: (h, p) => new RtpPacket(h as never, p),
    newSession: (keys, profile) => new SrtpSession({ keys, profile } as never) as unknown as SessionLike,
    isAuthError: (e) => e instanceof SrtpAuthenticationError,
    newCodec: (props) => new RTCRtpCodecParameters(props as never),
    newReceiver: () => new RTCRtpReceiver({ debug: {} } as never, "video", 1),
  };
}

/**
 * Installs the fast path unless it is installed already or was refused before; returns whether
 * it is in, and why not. A refusal logs one warning on `log`.
 */
export function installWeriftFastPath(log: Logger, options: InstallOptions = {}): { installed: boolean; reason?: string } {
  if (status) return status;
  try {
    const version = options.version ?? weriftVersion();
    if (version !== PINNED_WERIFT_VERSION) throw new Error(`werift is "${version}", the fast path is made for "${PINNED_WERIFT_VERSION}"`);
    const stock = stockWerift();
    const planned = patches ?? plan(stock);
    const counted = { ...srtpFastCounters };
    try {
      checkFastPath(checkInputsOf(stock, Object.fromEntries(planned.map((p) => [p.key, p.fast.value ?? p.fast.get])) as never), PROBE_KEYS);
    } finally {
      Object.assign(srtpFastCounters, counted); // the probes are not traffic
    }
    for (const p of planned) Object.defineProperty(p.target, p.key, p.fast);
    patches = planned;
    status = { installed: true };
    log.debug("werift fast path installed", { werift: version });
  } catch (error) {
    status = { installed: false, reason: error instanceof Error ? error.message : String(error) };
    log.warn("werift fast path not installed, running werift as shipped", { error });
  }
  return status;
}

/**
 * Puts werift's own members back and forgets a refusal (tests compare against werift as
 * shipped); a later {@link installWeriftFastPath} checks and installs anew.
 */
export function uninstallWeriftFastPath(): void {
  if (patches && status?.installed) for (const p of patches) Object.defineProperty(p.target, p.key, p.stock);
  status = undefined;
}
