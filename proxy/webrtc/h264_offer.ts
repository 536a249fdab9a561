// Checks a WHIP offer (RFC 9725 §4.2) and narrows its video m-section to one H.264
// packetization-mode 1 payload type, its RTX (RFC 4588 §8.1) and the feedback we
// implement (RFC 4585 §4.2: `nack`, `nack pli`; RFC 5104 §7.1: `ccm fir`).
//
// A browser offers VP8, VP9, AV1 and several H.264 variants in one m-line:
//
//   m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 ...
//   a=rtpmap:102 H264/90000
//   a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
//   a=rtcp-fb:102 nack
//   a=rtpmap:103 rtx/90000
//   a=fmtp:103 apt=102
//
// werift answers with the first offered codec whose MIME type matches ours, whatever its
// packetization mode, so we pick the payload type here (RFC 6184 §8.1: mode 1 carries
// STAP-A and FU-A, which our depacketizer handles) and hand werift an offer that lists
// only that one. Pure text in, text out.
//
// An ingest also takes packetization-mode 0 (RFC 6184 §8.1: an absent parameter means mode 0,
// single NAL unit packets, §6.2), which GStreamer's webrtcbin offers before its payloader has
// caps; mode 1 is preferred when both are offered. werift answers with the offered fmtp, so the
// answer says mode 0 too. A WHEP viewer still needs mode 1: our packetizer sends FU-A.
//
// werift answers a codec with the offer's own `a=rtcp-fb` lines (not ours), so this filter is what
// decides the answer's feedback. An ingest also keeps `transport-cc` when the offer has the
// transport-wide sequence number extension too (draft-holmer-rmcat-transport-wide-cc-extensions-01
// §2): then the ingest reports each packet's arrival time (§3.1, ./twcc_receiver.ts) and the
// sender can estimate its uplink. With the feedback but not the extension there is nothing to report.

import { RTP_EXTENSION } from "../../shared/mod.ts";

/** Why an offer cannot be answered; `status` is the HTTP answer (400, or 406 without H.264). */
export class OfferError extends Error {
  constructor(message: string, readonly status: 400 | 406) {
    super(message);
    this.name = "OfferError";
  }
}

/** The H.264 payload type picked from an offer, and what came with it. */
export interface H264Choice {
  /** The offer with its video m-section narrowed to `payloadType` (and `rtxPayloadType`). */
  sdp: string;
  payloadType: number;
  rtxPayloadType?: number;
  /** `profile-level-id` as offered (lower case), if any. */
  profileLevelId?: string;
  /** Feedback kept for `payloadType`, e.g. ["nack", "nack pli", "ccm fir"] (and "transport-cc"). */
  feedback: string[];
  /** RFC 6184 §8.1 packetization-mode of `payloadType`: 1, or 0 (single NAL units). */
  packetizationMode: 0 | 1;
  /** The id the offer gives abs-capture-time (`a=extmap`, RFC 8285 §5), if it offers it. */
  absCaptureTimeId?: number;
}

/** What `chooseH264` may pick. */
export interface ChooseOptions {
  /** Take packetization-mode 0 when no mode 1 is offered (an ingest can). Default false. */
  singleNalMode?: boolean;
  /**
   * Keep `transport-cc` feedback when the offer also has the transport-wide sequence number
   * extension (an ingest receives, so it can report arrivals). Default false.
   */
  transportCc?: boolean;
}

const KEPT_FEEDBACK = new Set(["nack", "nack pli", "ccm fir"]);
const TRANSPORT_CC = "transport-cc";
const MAX_SDP_BYTES = 64 * 1024;

interface Codec {
  pt: number;
  name: string;
  fmtp: Map<string, string>;
  feedback: string[];
}

/** `a=fmtp:96 a=1;b=2` parameters as a map with lower-cased keys. */
function parseFmtp(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return out;
}

function codecsOf(lines: string[], formats: number[]): Map<number, Codec> {
  const codecs = new Map<number, Codec>();
  for (const pt of formats) codecs.set(pt, { pt, name: "", fmtp: new Map(), feedback: [] });
  for (const line of lines) {
    const m = /^a=(rtpmap|fmtp|rtcp-fb):(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const codec = codecs.get(Number(m[2]));
    if (!codec) continue;
    const value = m[3]!.trim();
    if (m[1] === "rtpmap") codec.name = value.split("/")[0]!.toLowerCase();
    else if (m[1] === "fmtp") codec.fmtp = parseFmtp(value);
    else codec.feedback.push(value.toLowerCase().replace(/\s+/g, " "));
  }
  return codecs;
}

/**
 * Rank of an H.264 profile for us (lower is better): constrained baseline (42e0xx) plays
 * everywhere, then baseline, main, others (RFC 6184 §8.1, profile-level-id).
 */
function profileRank(profileLevelId: string | undefined): number {
  const p = (profileLevelId ?? "42e01f").toLowerCase();
  if (p.startsWith("42e0") || p.startsWith("42c0")) return 0;
  if (p.startsWith("42")) return 1;
  if (p.startsWith("4d")) return 2;
  return 3;
}

/** RFC 6184 §8.1: packetization-mode absent means 0; 2 (interleaved) is not taken. */
function modeOf(codec: Codec): number {
  return Number(codec.fmtp.get("packetization-mode") ?? "0");
}

/** Mode 1 before mode 0 (when allowed), then by profile. */
function pickH264(codecs: Map<number, Codec>, modes: number[]): Codec | undefined {
  let best: Codec | undefined;
  const rank = (c: Codec) => modes.indexOf(modeOf(c)) * 10 + profileRank(c.fmtp.get("profile-level-id"));
  for (const codec of codecs.values()) {
    if (codec.name !== "h264" || !modes.includes(modeOf(codec))) continue;
    if (!best || rank(codec) < rank(best)) best = codec;
  }
  return best;
}

/** Splits an SDP into its session part and m-sections (RFC 8866 §5). */
function sections(sdp: string): { session: string[]; media: string[][] } {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const session: string[] = [];
  const media: string[][] = [];
  for (const line of lines) {
    if (line.startsWith("m=")) media.push([line]);
    else if (media.length > 0) media[media.length - 1]!.push(line);
    else session.push(line);
  }
  return { session, media };
}

function checkSession(sdp: string, session: string[], media: string[][]): void {
  if (sdp.length > MAX_SDP_BYTES) throw new OfferError(`offer of ${sdp.length} bytes exceeds ${MAX_SDP_BYTES}`, 400);
  if (session[0] !== "v=0") throw new OfferError(`offer does not start with "v=0" (RFC 8866 §5.1)`, 400);
  if (!session.some((l) => l.startsWith("o="))) throw new OfferError(`offer has no "o=" line`, 400);
  if (media.length === 0) throw new OfferError("offer has no m-section", 400);
  const all = [...session, ...media.flat()];
  const has = (prefix: string, m: string[]) => m.some((l) => l.startsWith(prefix)) ||
    session.some((l) => l.startsWith(prefix));
  for (const m of media) {
    if (!/^m=\S+ \d+ \S+( \S+)+$/.test(m[0]!)) throw new OfferError(`malformed media line "${m[0]}"`, 400);
    if (!has("a=ice-ufrag:", m) || !has("a=ice-pwd:", m)) throw new OfferError("offer lacks ICE credentials", 400);
    if (!has("a=fingerprint:", m)) throw new OfferError("offer lacks a DTLS fingerprint (RFC 8122)", 400);
  }
  if (all.some((l) => !/^[a-z]=/.test(l))) {
    const bad = all.find((l) => !/^[a-z]=/.test(l))!;
    throw new OfferError(`malformed SDP line "${bad.slice(0, 60)}"`, 400);
  }
}

function direction(m: string[]): string {
  return m.find((l) => /^a=(sendonly|sendrecv|recvonly|inactive)$/.test(l))?.slice(2) ?? "sendrecv";
}

function narrow(m: string[], keep: Set<number>, h264: number, feedback: Set<string>): string[] {
  const parts = m[0]!.split(" ");
  const head = `${parts.slice(0, 3).join(" ")} ${[...keep].join(" ")}`;
  const out = [head];
  for (const line of m.slice(1)) {
    const attr = /^a=(rtpmap|fmtp|rtcp-fb):(\d+) (.*)$/.exec(line);
    if (attr) {
      const pt = Number(attr[2]);
      if (!keep.has(pt)) continue;
      if (attr[1] === "rtcp-fb" && (pt !== h264 || !feedback.has(attr[3]!.trim().toLowerCase()))) continue;
    }
    out.push(line);
  }
  return out;
}

/**
 * Validates `sdp` as a WHIP offer and narrows its one video m-section to H.264
 * packetization-mode 1 (or 0 with `singleNalMode`). Throws {@link OfferError} (400 malformed,
 * 406 no usable H.264).
 */
export function chooseH264(sdp: string, options: ChooseOptions = {}): H264Choice {
  const { session, media } = sections(sdp);
  checkSession(sdp, session, media);
  const videos = media.filter((m) => m[0]!.startsWith("m=video "));
  if (videos.length === 0) throw new OfferError("offer has no video m-section", 406);
  if (videos.length > 1) throw new OfferError(`offer has ${videos.length} video m-sections; one is supported`, 400);
  const video = videos[0]!;
  const dir = direction(video);
  if (dir !== "sendonly" && dir !== "sendrecv") throw new OfferError(`video m-section is "${dir}"; WHIP needs sendonly`, 400);
  const formats = video[0]!.split(" ").slice(3).map(Number);
  if (formats.some((f) => !Number.isInteger(f) || f < 0 || f > 127)) {
    throw new OfferError(`malformed payload types in "${video[0]}"`, 400);
  }
  const codecs = codecsOf(video, formats);
  const modes = options.singleNalMode ? [1, 0] : [1];
  const h264 = pickH264(codecs, modes);
  if (!h264) {
    const names = [...new Set([...codecs.values()].map((c) => c.name || "?"))].join(", ");
    const wanted = options.singleNalMode ? "packetization-mode=1 or 0" : "packetization-mode=1";
    throw new OfferError(`offer has no H.264 with ${wanted} (offered: ${names})`, 406);
  }
  const rtx = [...codecs.values()].find((c) => c.name === "rtx" && c.fmtp.get("apt") === String(h264.pt));
  const keep = new Set([h264.pt, ...(rtx ? [rtx.pt] : [])]);
  const transportCc = options.transportCc === true && h264.feedback.includes(TRANSPORT_CC) &&
    extmapId(video, RTP_EXTENSION.transportWideCc) !== undefined;
  const kept = transportCc ? new Set([...KEPT_FEEDBACK, TRANSPORT_CC]) : KEPT_FEEDBACK;
  // Both halves or neither: the sequence numbers would cost the sender 4 octets a packet for nothing.
  const narrowed = narrow(video, keep, h264.pt, kept).filter((l) => transportCc || extmapUri(l) !== RTP_EXTENSION.transportWideCc);
  const out = [...session, ...media.flatMap((m) => (m === video ? narrowed : m))];
  return {
    sdp: `${out.join("\r\n")}\r\n`,
    payloadType: h264.pt,
    rtxPayloadType: rtx?.pt,
    profileLevelId: h264.fmtp.get("profile-level-id")?.toLowerCase(),
    feedback: h264.feedback.filter((f) => kept.has(f)),
    packetizationMode: modeOf(h264) === 1 ? 1 : 0,
    absCaptureTimeId: extmapId(video, RTP_EXTENSION.absCaptureTime),
  };
}

/** RFC 8285 §5: `a=extmap:<id>[/<direction>] <uri> …`. */
const EXTMAP = /^a=extmap:(\d+)(?:\/\w+)? (\S+)/;

/** The id `uri` has in `m`: 1-14 (one-byte headers) or up to 255 (two-byte), RFC 8285 §4. */
function extmapId(m: string[], uri: string): number | undefined {
  for (const line of m) {
    const match = EXTMAP.exec(line);
    const id = match ? Number(match[1]) : 0;
    if (match?.[2] === uri && id >= 1 && id <= 255 && id !== 15) return id;
  }
  return undefined;
}

/** The URI of an `a=extmap` line, undefined for other lines. */
function extmapUri(line: string): string | undefined {
  return EXTMAP.exec(line)?.[2];
}
