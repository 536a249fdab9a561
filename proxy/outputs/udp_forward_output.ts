/**
 * The legacy output (DESIGN.md "Media"): each live dataflow's RTP, RTX already unwrapped,
 * re-sent as plain RTP/UDP to `--udp-forward-host` on the port the store allocated for the
 * dataflow (shown as `udpForward` in `GET /dataflows/{id}`), so that
 * `udpsrc port=P ! application/x-rtp,encoding-name=H264 ! rtph264depay ! avdec_h264` plays it.
 *
 * One connected UDP socket per live dataflow: a connected send skips the address lookup that
 * an unconnected `send(buf, port, host)` does for every packet (2.4x cheaper in Bun). Packets
 * are rebuilt from werift's parsed fields (RFC 3550 §5.1), without header extensions or padding:
 *
 *    0                   1                   2                   3
 *   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   |                           timestamp                           |
 *   |           synchronization source (SSRC) identifier            |
 *   |                           payload …                           |
 */
import { createSocket, type Socket } from "node:dgram";
import type { IngestRtpPacket } from "../ingest/ingest_types.ts";
import type { Logger } from "../log.ts";
import type { StreamContext } from "./frame_output.ts";

/** An output that takes every RTP packet of a stream (as received, before reassembly). */
export interface PacketOutput {
  readonly name: string;
  pushPacket(packet: IngestRtpPacket, stream: StreamContext): void;
  sessionStarted?(stream: StreamContext): void;
  sessionEnded?(stream: StreamContext): void;
  close?(): void;
}

/** Counters of every forward (process-wide, cumulative). */
export interface ForwardTotals {
  packets: number;
  bytes: number;
  /** Send errors (asynchronous socket errors, e.g. ICMP port unreachable on a connected socket). */
  errors: number;
  /** Sessions whose dataflow had no forward port: nothing forwarded. */
  sessionsWithoutPort: number;
  /** Packets dropped because too many were held while a socket connected. */
  dropped: number;
}

/** The RTP bytes of `packet`: a 12-byte header and the payload. */
export function rtpBytes(packet: IngestRtpPacket): Buffer {
  const h = packet.header;
  const out = Buffer.allocUnsafe(12 + packet.payload.length);
  out[0] = 0x80;
  out[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  out.writeUInt16BE(h.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(h.timestamp >>> 0, 4);
  out.writeUInt32BE(h.ssrc >>> 0, 8);
  out.set(packet.payload, 12);
  return out;
}

/** After a send error on a connected socket (nobody listens: ICMP port unreachable), send unconnected this long. */
const UNCONNECTED_MS = 10_000;
/** Packets held while a socket connects (the connect completes on the next tick). */
const MAX_HELD = 256;

/** Forwards one dataflow's RTP; see the file comment. */
export class UdpForwardOutput implements PacketOutput {
  readonly name = "udp-forward";
  private socket: Socket | undefined;
  private connected = false;
  /** While set, the socket is unconnected (errors from a connected one), until this time. */
  private unconnectedUntil = 0;
  private target: { host: string; port: number } | undefined;
  /** Packets held while the socket connects. */
  private connecting: Buffer[] | undefined;

  constructor(
    readonly dataflowId: number,
    private readonly options: { target: () => { host: string; port: number } | undefined; totals: ForwardTotals; log: Logger },
  ) {}

  /** Opens the socket towards the dataflow's port (looked up now: a restart may change it). */
  sessionStarted(): void {
    const target = this.options.target();
    if (!target) {
      this.options.totals.sessionsWithoutPort++;
      this.options.log.warn("dataflow has no udp forward port", { dataflowId: this.dataflowId });
      return;
    }
    if (this.socket && this.target?.host === target.host && this.target.port === target.port) return;
    this.target = target;
    this.open(true);
  }

  /**
   * A connected socket reports each ICMP port unreachable as an error on a later send, and on
   * loopback that costs more than the send: when nobody listens, fall back to an unconnected
   * socket (errors not reported) for a while, then try again.
   */
  private open(connect: boolean): void {
    this.close();
    const target = this.target!;
    const socket = createSocket("udp4");
    socket.on("error", (error) => {
      this.options.totals.errors++;
      if (this.options.totals.errors <= 5) this.options.log.warn("udp forward send failed", { dataflowId: this.dataflowId, error });
      if (this.socket === socket && this.connected) {
        this.unconnectedUntil = performance.now() + UNCONNECTED_MS;
        this.open(false);
      }
    });
    if (connect) {
      this.unconnectedUntil = 0;
      this.connecting = [];
      socket.connect(target.port, target.host, () => {
        if (this.socket !== socket) return;
        this.connected = true;
        for (const bytes of this.connecting ?? []) socket.send(bytes);
        this.connecting = undefined;
      });
    }
    socket.unref();
    this.socket = socket;
  }

  pushPacket(packet: IngestRtpPacket): void {
    const socket = this.socket;
    if (!socket) return;
    const bytes = rtpBytes(packet);
    this.options.totals.packets++;
    this.options.totals.bytes += bytes.length;
    if (this.connected) return void socket.send(bytes);
    // Connecting (a local, next-tick affair): a send now would be lost, so hold a few packets.
    if (this.connecting) {
      if (this.connecting.length < MAX_HELD) this.connecting.push(bytes);
      else this.options.totals.dropped++;
      return;
    }
    socket.send(bytes, this.target!.port, this.target!.host);
    if (this.unconnectedUntil !== 0 && performance.now() >= this.unconnectedUntil) this.open(true);
  }

  /** Closes the socket (the dataflow is gone, or it is reopened). */
  close(): void {
    this.socket?.close();
    this.socket = undefined;
    this.connected = false;
    this.connecting = undefined;
  }
}
