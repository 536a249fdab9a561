/**
 * Legacy output (DESIGN.md "Media"): each live dataflow's RTP, RTX already unwrapped, re-sent
 * as plain RTP/UDP to `--udp-forward-host` on the port the store allocated for it (shown as
 * `udpForward` in `GET /dataflows/{id}`), so a pipeline like
 * `udpsrc port=P ! application/x-rtp,encoding-name=H264 ! rtph264depay ! avdec_h264` plays it.
 * One unconnected UDP socket serves every dataflow.
 */
import { createSocket, type Socket } from "node:dgram";
import { logger } from "../log.ts";
import type { Registry } from "../registry/registry.ts";
import type { IngestRtpPacket, SessionEndReason, SessionInfo, SessionSink, SinkFactory } from "./ingest_types.ts";

/** Counters of the forwarder (cumulative). */
export interface ForwardCounters {
  packets: number;
  bytes: number;
  /** Socket errors reported asynchronously (e.g. ICMP port unreachable on some systems). */
  errors: number;
  /** Sessions whose dataflow had no forward port: nothing forwarded, once logged. */
  sessionsWithoutPort: number;
}

/** Forwards RTP of every session to its dataflow's UDP port. */
export class UdpForwarder {
  readonly counters: ForwardCounters = { packets: 0, bytes: 0, errors: 0, sessionsWithoutPort: 0 };
  private socket: Socket | undefined;
  private readonly log = logger("udp-forward");

  constructor(private readonly registry: Registry) {}

  private open(): Socket {
    if (this.socket) return this.socket;
    const socket = createSocket("udp4");
    socket.on("error", (error) => {
      this.counters.errors++;
      if (this.counters.errors <= 5) this.log.warn("udp forward send failed", { error });
    });
    socket.unref();
    this.socket = socket;
    return socket;
  }

  /** Where `dataflowId`'s RTP goes, or undefined when it has no port. */
  target(dataflowId: number): { host: string; port: number } | undefined {
    try {
      return this.registry.get(dataflowId).udpForward ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Wraps `inner` so every packet is also forwarded (before the inner sink sees it). */
  wrap(inner: SinkFactory): SinkFactory {
    return (info: SessionInfo): SessionSink => {
      const sink = inner(info);
      const target = this.target(info.dataflowId);
      if (!target) {
        this.counters.sessionsWithoutPort++;
        this.log.warn("dataflow has no udp forward port", { dataflowId: info.dataflowId });
        return sink;
      }
      const socket = this.open();
      const send = (bytes: Uint8Array) => {
        this.counters.packets++;
        this.counters.bytes += bytes.length;
        socket.send(bytes, target.port, target.host);
      };
      return {
        onRtp: (packet: IngestRtpPacket, arrivalMs: number) => {
          send(packet.serialize());
          return sink.onRtp ? sink.onRtp(packet, arrivalMs) : sink.onPacket?.(packet.serialize(), arrivalMs);
        },
        wakeAtMs: sink.wakeAtMs ? () => sink.wakeAtMs!() : undefined,
        poll: sink.poll ? (now: number) => sink.poll!(now) : undefined,
        close: (reason: SessionEndReason) => sink.close(reason),
      };
    };
  }

  /** Closes the socket. */
  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
