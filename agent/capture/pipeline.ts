/**
 * Builds the `gst-launch-1.0` argv for a source (pure; no I/O). Every pipeline ends in the
 * same tail, which writes RTP (RFC 6184 over RFC 4571 framing) to the child's stdout:
 *
 *   … ! h264parse config-interval=-1 ! rtph264pay pt=96 mtu=1200 ! rtpstreampay ! fdsink fd=1
 *
 * Raw sources are encoded; H.264 sources (udp, rtsp, file, v4l2 in h264 format) are not.
 * `-q` keeps gst-launch's own messages off stdout; `-e` turns SIGINT into an EOS.
 *
 * With a bitrate ladder (`--ladder`, uplink adaptation) a raw source is encoded once per rung:
 * gst-launch-1.0 has no runtime control, so the encoders all run and the agent picks, per WHIP
 * session, which rung's RTP it sends, switching at the target rung's keyframe
 * (agent/push/ladder_select.ts). Each rung's payloader has its own payload type
 * (96 + rung) and all share timestamp-offset 0, so picture N carries one RTP timestamp on
 * every rung and a switch continues the stream without a jump:
 *
 *   … ! tee name=ladder  ladder. ! queue ! x264enc bitrate=B0 ! … ! rtph264pay pt=96 ! rungs.
 *                        ladder. ! queue ! x264enc bitrate=B1 ! … ! rtph264pay pt=97 ! rungs.
 *   funnel name=rungs ! rtpstreampay ! fdsink fd=1
 */
import { type SourceSpec, UNQUOTABLE } from "./source_spec.ts";

/** Encoders the agent knows, by option name. */
export type EncoderName = "x264" | "nvh264" | "vaapih264" | "v4l2h264";

/** The GStreamer element behind each encoder option. */
export const ENCODER_ELEMENT: Readonly<Record<EncoderName, string>> = {
  x264: "x264enc",
  nvh264: "nvh264enc",
  vaapih264: "vaapih264enc",
  v4l2h264: "v4l2h264enc",
};

/** What the pipeline depends on (a subset of the agent config). */
export interface PipelineOptions {
  source: SourceSpec;
  v4l2Format: "raw" | "h264";
  rtspTransport: "tcp" | "udp";
  encoder: EncoderName;
  width: number;
  height: number;
  fps: number;
  /** kbit/s */
  bitrate: number;
  /** Frames between keyframes. */
  keyint: number;
  /** `--ladder`: kbit/s per rung, top first; "auto" is bitrate, /2, /4. Default "off". */
  ladder?: "auto" | "off" | readonly number[];
}

/** Most rungs a ladder may have (payload types 96–99). */
export const MAX_RUNGS = 4;

/**
 * The kbit/s of each encoder the pipeline runs, top first: one (`--bitrate`) unless the source
 * is encoded here and a ladder is on.
 */
export function encoderRungs(o: Pick<PipelineOptions, "source" | "v4l2Format" | "bitrate" | "ladder">): number[] {
  const ladder = o.ladder ?? "off";
  if (ladder === "off" || !needsEncoder(o)) return [o.bitrate];
  if (ladder !== "auto") return [...ladder];
  return [o.bitrate, Math.round(o.bitrate / 2), Math.round(o.bitrate / 4)];
}

/** The rung of an RTP packet from a ladder pipeline (its payload type − 96). */
export function rungOf(packet: Uint8Array): number {
  return (packet[1]! & 0x7f) - RTP_PAYLOAD_TYPE;
}

/** RTP payload type and MTU the agent uses; the WHIP publisher rewrites PT as negotiated. */
export const RTP_PAYLOAD_TYPE = 96;
export const RTP_MTU = 1200;
/** Caps of RTP/H.264 arriving on a UDP source. */
export const UDP_RTP_CAPS = "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000";
/** Kernel receive buffer asked for a UDP source (bursts of keyframes must not overflow it). */
export const UDP_BUFFER_BYTES = 8 * 1024 * 1024;

type Element = string[];

/**
 * `name="value"` for a value that comes from the user (a path, device, URL, address): inside
 * the quotes gst-launch-1.0 takes spaces and `!` literally. `parseSourceSpec` has refused the
 * characters that could end the quotes (`"`, `\\`, control characters).
 */
export function gstQuoted(name: string, value: string): string {
  if (UNQUOTABLE.test(value)) throw new RangeError(`${name} value ${JSON.stringify(value)} cannot be quoted for gst-launch-1.0`);
  return `${name}="${value}"`;
}

/** An empty element: the next one starts a new chain (no `!` before it), as after `tee name=t`. */
const BREAK: Element = [];

function link(elements: Element[]): string[] {
  const out: string[] = [];
  let open = false;
  for (const e of elements) {
    if (e.length === 0) {
      open = false;
      continue;
    }
    if (open) out.push("!");
    out.push(...e);
    open = true;
  }
  return out;
}

function rawCaps(o: PipelineOptions, format?: string): Element {
  const f = format ? `,format=${format}` : "";
  return [`video/x-raw${f},width=${o.width},height=${o.height},framerate=${o.fps}/1`];
}

/** The encoder and the caps forced after it (constrained baseline, so browsers play it). */
export function encoderElements(o: PipelineOptions): Element[] {
  const baseline = ["video/x-h264,profile=constrained-baseline"];
  switch (o.encoder) {
    case "x264":
      return [
        ["video/x-raw,format=I420"],
        ["x264enc", "tune=zerolatency", "speed-preset=ultrafast", `bitrate=${o.bitrate}`, `key-int-max=${o.keyint}`],
        baseline,
      ];
    case "nvh264":
      return [["nvh264enc", "zerolatency=true", "bframes=0", `bitrate=${o.bitrate}`, `gop-size=${o.keyint}`], baseline];
    case "vaapih264":
      return [["vaapih264enc", "rate-control=cbr", `bitrate=${o.bitrate}`, `keyframe-period=${o.keyint}`], baseline];
    case "v4l2h264":
      return [
        ["v4l2h264enc", `extra-controls=controls,video_bitrate=${o.bitrate * 1000},h264_i_frame_period=${o.keyint}`],
        ["video/x-h264,profile=baseline"],
      ];
  }
}

/** H.264 → RTP for one rung (payload type 96 + rung; a ladder's rungs share timestamp 0). */
function payloader(rung?: number): Element[] {
  const shared = rung === undefined ? [] : ["timestamp-offset=0"];
  return [["h264parse", "config-interval=-1"], ["rtph264pay", `pt=${RTP_PAYLOAD_TYPE + (rung ?? 0)}`, `mtu=${RTP_MTU}`, ...shared]];
}

function streamSink(sync = false): Element[] {
  return [["rtpstreampay"], sync ? ["fdsink", "fd=1", "sync=true"] : ["fdsink", "fd=1"]];
}

/** The common tail; `sync` paces file sources at their own timestamps. */
export function payloadTail(sync = false): Element[] {
  return [...payloader(), ...streamSink(sync)];
}

/** Raw frames in the given caps → encoder → tail. The V4L2 chain, testable with videotestsrc. */
export function rawChain(o: PipelineOptions): Element[] {
  const rungs = encoderRungs(o);
  if (rungs.length === 1) return [["videoconvert"], ...encoderElements(o), ...payloadTail()];
  if (rungs.length > MAX_RUNGS) throw new RangeError(`a ladder has at most ${MAX_RUNGS} rungs, not ${rungs.length}`);
  // A leaky queue per rung: an encoder that falls behind drops its own raw frames, not the others'.
  const branches = rungs.flatMap((bitrate, rung) => [
    BREAK, ["ladder."], ["queue", "max-size-buffers=4", "max-size-bytes=0", "max-size-time=0", "leaky=downstream"],
    ...encoderElements({ ...o, bitrate }), ...payloader(rung), ["rungs."],
  ]);
  return [["videoconvert"], ["tee", "name=ladder"], ...branches, BREAK, ["funnel", "name=rungs"], ...streamSink()];
}

function fileElements(path: string, fps: number): Element[] {
  const lower = path.toLowerCase();
  const src = ["filesrc", gstQuoted("location", path)];
  if (/\.(mp4|m4v|mov|3gp)$/.test(lower)) return [src, ["qtdemux"], ...payloadTail(true)];
  if (/\.(mkv|webm)$/.test(lower)) return [src, ["matroskademux"], ...payloadTail(true)];
  if (/\.(h264|264|avc|es)$/.test(lower)) {
    return [src, [`video/x-h264,stream-format=byte-stream,framerate=${fps}/1`], ...payloadTail(true)];
  }
  return [src, ["parsebin"], ["video/x-h264"], ...payloadTail(true)];
}

/** The elements (without gst-launch flags) for one source. */
export function pipelineElements(o: PipelineOptions): Element[] {
  const s = o.source;
  switch (s.kind) {
    case "test":
      return [
        ["videotestsrc", "is-live=true", "pattern=smpte"],
        rawCaps(o),
        ["clockoverlay", "halignment=right", "valignment=bottom", "shaded-background=true"],
        ...rawChain(o),
      ];
    case "v4l2":
      if (o.v4l2Format === "h264") {
        return [["v4l2src", gstQuoted("device", s.device)], [`video/x-h264,width=${o.width},height=${o.height},framerate=${o.fps}/1`], ...payloadTail()];
      }
      return [["v4l2src", gstQuoted("device", s.device)], rawCaps(o), ...rawChain(o)];
    case "udp": {
      const address = s.address ? [gstQuoted("address", s.address)] : [];
      return [
        ["udpsrc", `port=${s.port}`, ...address, `buffer-size=${UDP_BUFFER_BYTES}`, `caps=${UDP_RTP_CAPS}`],
        ["rtph264depay"],
        ...payloadTail(),
      ];
    }
    case "rtsp":
      return [["rtspsrc", gstQuoted("location", s.url), `protocols=${o.rtspTransport}`, "latency=100"], ["rtph264depay"], ...payloadTail()];
    case "file":
      return fileElements(s.path, o.fps);
  }
}

/** Flags given to gst-launch-1.0 before the pipeline. */
export const GST_LAUNCH_FLAGS = ["-q", "-e"];

/** The full argv (after the executable) for gst-launch-1.0. */
export function pipelineArgv(o: PipelineOptions): string[] {
  return [...GST_LAUNCH_FLAGS, ...link(pipelineElements(o))];
}

/** Joins elements with `!` (exported for tests that build chains around `rawChain()`). */
export function linkElements(elements: Element[]): string[] {
  return link(elements);
}

/** True when the source is raw video that this agent encodes. */
export function needsEncoder(o: Pick<PipelineOptions, "source" | "v4l2Format">): boolean {
  return o.source.kind === "test" || (o.source.kind === "v4l2" && o.v4l2Format === "raw");
}

/** Shell-quoted text of a command, for `--check` and logs. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}
