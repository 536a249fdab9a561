// Shared parts of the WHIP tests: a proxy-like HTTP server with only the WHIP routes
// (Bun.serve on 127.0.0.1), a recording sink, and a gst-launch RTP source child that is
// tracked by pid and stopped INT → TERM → KILL.
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { RtpStreamReader } from "../../agent/push/rtp_stream_reader.ts";
import { logger } from "../../proxy/log.ts";
import { type Proc, spawnTracked } from "../support/procs.ts";
import { SessionRegistry, type RegistryOptions } from "../../proxy/ingest/session_registry.ts";
import type { IngestFeedback, SessionEndReason, SessionInfo, SessionSink, SinkFactory } from "../../proxy/ingest/ingest_types.ts";
import { type IngestAuth, whipRoutes } from "../../proxy/ingest/whip_routes.ts";

/** Loopback-only ICE for tests (FACTS.md): nothing may leave the machine. */
export const LOOPBACK_ICE = { addresses: ["127.0.0.1"], bindAddress: "127.0.0.1", lite: true };

/** What one session's sink saw. */
/** Where an RTP packet's payload starts: after CSRCs and a header extension (RFC 3550 §5.3.1; transport-cc and abs-capture-time use one). */
function payloadOffset(packet: Uint8Array): number {
  let offset = 12 + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) offset += 4 + ((packet[offset + 2]! << 8) | packet[offset + 3]!) * 4;
  return offset;
}

export interface RecordedSession {
  info: SessionInfo;
  packets: number;
  bytes: number;
  seqs: number[];
  ssrcs: Set<number>;
  payloadTypes: Set<number>;
  /** First byte of the first packets' payloads (their NAL unit headers), up to 8 packets. */
  headPayloadBytes: number[];
  closedWith?: SessionEndReason;
  /** Feedback the test wants returned for the next packet. */
  feedback?: IngestFeedback;
}

/** A sink factory that records what each session's sink gets into `sessions`. */
export function recordingSinks(sessions: RecordedSession[]): SinkFactory {
  return (info): SessionSink => {
    const rec: RecordedSession = { info, packets: 0, bytes: 0, seqs: [], ssrcs: new Set(), payloadTypes: new Set(), headPayloadBytes: [] };
    sessions.push(rec);
    return {
      onPacket(packet) {
        if (rec.headPayloadBytes.length < 8) rec.headPayloadBytes.push(packet[payloadOffset(packet)]!);
        rec.packets++;
        rec.bytes += packet.length;
        rec.seqs.push((packet[2]! << 8) | packet[3]!);
        rec.ssrcs.add(((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0);
        rec.payloadTypes.add(packet[1]! & 0x7f);
        const fb = rec.feedback;
        rec.feedback = undefined;
        return fb;
      },
      close(reason) {
        rec.closedWith = reason;
      },
    };
  };
}

/** A WHIP server for tests. */
export interface WhipTestServer {
  base: string;
  registry: SessionRegistry;
  sessions: RecordedSession[];
  tokens: Map<number, string>;
  ends: { dataflowId: number; sessionId: string; reason: SessionEndReason }[];
  whipUrl(id: number): string;
  stop(): Promise<void>;
}

/** Starts the WHIP routes on a free port with dataflows `tokens` (id → token). */
export function startWhipServer(tokens: Map<number, string>, options: Partial<RegistryOptions> = {}, host = "127.0.0.1"): WhipTestServer {
  const sessions: RecordedSession[] = [];
  const ends: WhipTestServer["ends"] = [];
  const registry = new SessionRegistry({
    ice: LOOPBACK_ICE,
    log: logger("ingest"),
    sinks: recordingSinks(sessions),
    onEnd: (s, reason) => ends.push({ dataflowId: s.dataflowId, sessionId: s.sessionId, reason }),
    ...options,
  });
  const authenticate = (id: number, token: string | undefined): IngestAuth => {
    const expected = tokens.get(id);
    if (expected === undefined) return "not-found";
    return token === expected ? "ok" : "unauthorized";
  };
  const app = new Hono();
  app.route("/", whipRoutes({ authenticate, registry }));
  const server = Bun.serve({ hostname: host, port: 0, fetch: app.fetch });
  const base = `http://${host}:${server.port}`;
  return {
    base, registry, sessions, tokens, ends,
    whipUrl: (id) => `${base}/whip/${id}`,
    async stop() {
      registry.close();
      await server.stop(true);
    },
  };
}

/** The gst-launch argv of a 320x240 30 fps test pattern as RFC 4571-framed RTP on stdout. */
export function gstRtpArgv(options: { keyint?: number; bitrate?: number; width?: number; height?: number } = {}): string[] {
  const { keyint = 30, bitrate = 500, width = 320, height = 240 } = options;
  return [
    "gst-launch-1.0", "-q",
    "videotestsrc", "is-live=true", "!",
    `video/x-raw,format=I420,width=${width},height=${height},framerate=30/1`, "!",
    "x264enc", "tune=zerolatency", `key-int-max=${keyint}`, `bitrate=${bitrate}`, "!",
    "video/x-h264,profile=constrained-baseline", "!",
    "h264parse", "config-interval=-1", "!",
    "rtph264pay", "!", "rtpstreampay", "!", "fdsink", "fd=1",
  ];
}

/** Elements the RTP source needs; missing ones make the media tests skip. */
export const GST_ELEMENTS = ["videotestsrc", "x264enc", "h264parse", "rtph264pay", "rtpstreampay", "fdsink"];

/** Starts the gst RTP source (tracked; stopped by the test or at the end of the run). */
export function spawnGstRtp(options: Parameters<typeof gstRtpArgv>[0] = {}): Proc {
  const [command, ...args] = gstRtpArgv(options);
  return spawnTracked(command!, args, { stdout: "pipe", name: "gst-rtp" });
}

/** Polls `condition` every 50 ms until true or `timeoutMs`; returns whether it became true. */
export async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await Bun.sleep(50);
  }
  return condition();
}

/** Plays a captured RFC 4571 RTP fixture into `send`, one picture (RTP timestamp) per 33 ms, looping. */
export function replayFixture(send: (packet: Uint8Array) => void, file = "h264_320x240_single_slice.rtp"): { stop(): void; sent: () => number } {
  const bytes = new Uint8Array(readFileSync(new URL(`../fixtures/${file}`, import.meta.url)));
  const packets = new RtpStreamReader().push(bytes);
  const pictures: Uint8Array[][] = [];
  let lastTs = -1;
  for (const p of packets) {
    const ts = new DataView(p.buffer, p.byteOffset).getUint32(4);
    if (ts !== lastTs) pictures.push([]);
    lastTs = ts;
    pictures[pictures.length - 1]!.push(p);
  }
  let index = 0;
  let sent = 0;
  let seq = 0;
  let ts = 0;
  const timer = setInterval(() => {
    const picture = pictures[index++ % pictures.length]!;
    ts += 3000;
    for (const p of picture) {
      // Renumber so the loop is one continuous stream.
      const copy = p.slice();
      const view = new DataView(copy.buffer);
      view.setUint16(2, seq++ & 0xffff);
      view.setUint32(4, ts >>> 0);
      send(copy);
      sent++;
    }
  }, 33);
  return { stop: () => clearInterval(timer), sent: () => sent };
}
