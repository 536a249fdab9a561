/**
 * The legacy output (DESIGN.md "Media"): the RTP of each live dataflow that forwards (the proxy's
 * `--udp-forward` and its registration's `udpForward` decide), RTX already unwrapped,
 * re-sent as plain RTP/UDP to `--udp-forward-host` on the port the store allocated for the
 * dataflow (shown as `udpForward` in `GET /dataflows/{id}`), so that
 * `udpsrc port=P ! application/x-rtp,encoding-name=H264 ! rtph264depay ! avdec_h264` plays it.
 *
 * One connected UDP socket per live dataflow: a connected send skips the address lookup that
 * an unconnected `send(buf, port, host)` does for every packet (2.4x cheaper in Bun), and Bun's
 * own socket (proxy/runtime.ts `connectUdp`) skips node:dgram's per-send work on top. The
 * packets of one event-loop pass (a burst read from the publishers' sockets) leave together
 * in one `sendmmsg` at the end of the pass (`setImmediate`, no added wait): on loopback each
 * separate send also woke the reading pipeline, and the sends were a third of the proxy's CPU
 * at 16 streams. Packets
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
import { type ConnectedUdp, connectUdp } from "../runtime.ts";
import type { PacketOutput } from "../stream/frame_output.ts";

/** Counters of every forward (process-wide, cumulative). */
export interface ForwardTotals {
  packets: number;
  bytes: number;
  /** Send errors (asynchronous socket errors, e.g. ICMP port unreachable on a connected socket). */
  errors: number;
  /** Sessions whose dataflow had no forward port: nothing forwarded. */
  sessionsWithoutPort: number;
  /** Packets dropped because too many were held while a socket connected, or the socket's send buffer was full. */
  dropped: number;
}

/** The RTP bytes of `packet`: a 12-byte header and the payload. */
export function rtpBytes(packet: IngestRtpPacket): Buffer {
  const out = Buffer.allocUnsafe(12 + packet.payload.length);
  writeRtp(packet, out, 0);
  return out;
}

/** Writes the RTP bytes of `packet` into `out` at `at` (room for 12 + payload needed). */
function writeRtp(packet: IngestRtpPacket, out: Buffer, at: number): void {
  const h = packet.header;
  out[at] = 0x80;
  out[at + 1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  out.writeUInt16BE(h.sequenceNumber & 0xffff, at + 2);
  out.writeUInt32BE(h.timestamp >>> 0, at + 4);
  out.writeUInt32BE(h.ssrc >>> 0, at + 8);
  out.set(packet.payload, at + 12);
}

/** After a send error on a connected socket (nobody listens: ICMP port unreachable), send unconnected this long. */
const UNCONNECTED_MS = 10_000;
/** Packets held while a socket connects (the connect completes within a tick or two). */
const MAX_HELD = 256;
/** Packets sent in one system call at most; a longer pass sends more batches. */
const MAX_BATCH = 64;
/** Bytes of the buffer a batch is written into (reused: the kernel copies at send). */
const SLAB_BYTES = 128 * 1024;

/** Forwards with packets waiting for the end of this event-loop pass. */
const pending = new Set<UdpForwardOutput>();
let flushScheduled = false;

function flushPending(): void {
  flushScheduled = false;
  for (const output of pending) output.flush();
  pending.clear();
}

/**
 * Where a forward stands: no socket (`closed`), waiting for its connected socket
 * (`connecting`, packets held), sending on it (`connected`), or sending unconnected for a
 * while after errors (`unconnected`).
 */
type ForwardState = "closed" | "connecting" | "connected" | "unconnected";

/** Forwards one dataflow's RTP; see the file comment. */
export class UdpForwardOutput implements PacketOutput {
  readonly name = "udp-forward";
  private state: ForwardState = "closed";
  /** Counts opens and closes: a socket or callback of an earlier one is stale. */
  private generation = 0;
  private connectedSocket: ConnectedUdp | undefined;
  private unconnectedSocket: Socket | undefined;
  /** While unconnected after errors, until this time. */
  private unconnectedUntil = 0;
  private target: { host: string; port: number } | undefined;
  /** Packets held while the socket connects. */
  private held: Buffer[] = [];
  /** Packets for the connected socket, sent at the end of this event-loop pass: views of
   * `slab`, reused after each send, so forwarding makes no garbage per packet. */
  private batch: Buffer[] = [];
  private slab: Buffer | undefined;
  private slabUsed = 0;

  constructor(
    readonly dataflowId: number,
    private readonly options: {
      target: () => { host: string; port: number } | undefined;
      totals: ForwardTotals;
      log: Logger;
      /** Bytes of the reused batch buffer [128 KiB]. */
      slabBytes?: number;
    },
  ) {}

  /** Opens the socket towards the dataflow's port (looked up now: a restart may change it). */
  sessionStarted(): void {
    const target = this.options.target();
    if (!target) {
      // The dataflow does not forward (`--udp-forward`, its registration): nothing to send.
      this.options.totals.sessionsWithoutPort++;
      this.options.log.debug("dataflow does not forward over udp", { dataflowId: this.dataflowId });
      return;
    }
    if (this.state !== "closed" && this.target?.host === target.host && this.target.port === target.port) return;
    this.target = target;
    this.open(true);
  }

  /**
   * A connected socket reports each ICMP port unreachable as an error on a later send, and on
   * loopback that costs more than the send: when nobody listens, fall back to an unconnected
   * node:dgram socket (which reports none) for a while, then try again.
   */
  private open(connect: boolean): void {
    this.close();
    const target = this.target!;
    const generation = this.generation;
    const failed = (error: Error) => this.failed(generation, error);
    if (connect) {
      this.unconnectedUntil = 0;
      this.state = "connecting";
      connectUdp(target.host, target.port, failed).then((socket) => {
        if (this.generation !== generation) return socket.close();
        this.connectedSocket = socket;
        this.state = "connected";
        const held = this.held;
        this.held = [];
        // Bun may report an error inside a send, and the forward then switches sockets mid-way.
        for (const bytes of held) this.deliver(bytes);
      }, failed);
      return;
    }
    const socket = createSocket("udp4");
    socket.on("error", failed);
    socket.unref();
    this.unconnectedSocket = socket;
    this.state = "unconnected";
  }

  private failed(generation: number, error: Error): void {
    // Bun reports every ICMP of a burst, also after its socket was replaced: those are the
    // same outage, already counted by the first report (node:dgram reported one).
    if (this.generation !== generation) return;
    this.options.totals.errors++;
    if (this.options.totals.errors <= 5) this.options.log.warn("udp forward send failed", { dataflowId: this.dataflowId, error });
    if (this.state === "connected") {
      this.unconnectedUntil = performance.now() + UNCONNECTED_MS;
      this.open(false);
    }
  }

  /** Sends (or holds) one packet already counted, as the state says. */
  private deliver(bytes: Buffer): void {
    if (this.state === "connected") {
      this.batch.push(bytes);
      if (this.batch.length >= MAX_BATCH) return this.flush();
      if (this.batch.length === 1) pending.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushPending);
      }
      return;
    }
    // Connecting (a local, next-tick affair): a send now would be lost, so hold a few packets.
    if (this.state === "connecting") {
      if (this.held.length < MAX_HELD) this.held.push(bytes);
      else this.options.totals.dropped++;
      return;
    }
    if (this.state === "closed") return;
    this.unconnectedSocket!.send(bytes, this.target!.port, this.target!.host);
    if (performance.now() >= this.unconnectedUntil) this.open(true);
  }

  /** Sends the packets batched for the connected socket (called at the end of the pass). */
  flush(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.slabUsed = 0;
    if (this.state !== "connected") {
      // The socket failed since: the rest goes the way the state says now (copied: the slab
      // is reused, and a connecting forward holds what it gets).
      for (const bytes of batch) this.deliver(Buffer.from(bytes));
      return;
    }
    try {
      // sendmmsg stops at the first datagram the kernel refuses: a pending ICMP error (nobody
      // listens; reported once, the next one goes on) or a full send buffer (twice nothing
      // sent: the rest is dropped).
      const socket = this.connectedSocket!;
      let rest = batch;
      let refused = 0;
      while (rest.length > 0 && this.state === "connected") {
        const sent = socket.sendMany(rest);
        if (sent > 0) rest = rest.slice(sent);
        else if (++refused > 1) break;
      }
      if (this.state !== "connected" && rest.length > 0) {
        // An error report switched sockets mid-way: the rest goes the way the state says now.
        for (const bytes of rest) this.deliver(Buffer.from(bytes));
        return;
      }
      this.options.totals.dropped += rest.length;
    } catch (error) {
      // Bun throws what node:dgram would emit (e.g. EMSGSIZE): the same path as a reported error.
      this.options.totals.dropped += batch.length;
      this.failed(this.generation, error as Error);
    }
  }

  /** Re-sends one packet as plain RTP (counted, then sent, held while connecting, or dropped). */
  pushPacket(packet: IngestRtpPacket): void {
    if (this.state === "closed") return;
    const size = 12 + packet.payload.length;
    this.options.totals.packets++;
    this.options.totals.bytes += size;
    const slabBytes = this.options.slabBytes ?? SLAB_BYTES;
    if (this.state !== "connected" || size > slabBytes) return this.deliver(rtpBytes(packet));
    if (this.slabUsed + size > slabBytes) this.flush();
    const slab = (this.slab ??= Buffer.allocUnsafe(slabBytes));
    const at = this.slabUsed;
    writeRtp(packet, slab, at);
    this.slabUsed = at + size; // before deliver(): a full batch is flushed there, emptying the slab
    this.deliver(slab.subarray(at, at + size));
  }

  /** Closes the socket (the dataflow is gone, or it is reopened). */
  close(): void {
    this.flush();
    pending.delete(this);
    this.generation++;
    this.connectedSocket?.close();
    this.unconnectedSocket?.close();
    this.connectedSocket = undefined;
    this.unconnectedSocket = undefined;
    this.held = [];
    this.state = "closed";
  }
}
