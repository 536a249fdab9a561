/**
 * The I/O the sensor flow drives, as small interfaces: real adapters in `agent_ports.ts`,
 * fakes in the state-machine tests.
 */
import type { DataflowMetadataInput, Keepalive, Registration } from "../shared/mod.ts";
import type { Clock } from "./clock.ts";
import type { Endpoints } from "./discovery/discover_endpoints.ts";
import type { LocationFix } from "./location/location_fix.ts";
import type { Logger } from "./log.ts";

/** The registration API of one MEC. */
export interface RegistryPort {
  register(metadata: DataflowMetadataInput): Promise<Registration>;
  /** Throws `DataflowGoneError` when the MEC forgot the dataflow. */
  keepalive(id: number, metadata?: DataflowMetadataInput): Promise<Keepalive>;
  remove(id: number): Promise<void>;
}

/** MQTT announcements and control for one dataflow. */
export interface ControlPort {
  announce(kind: "new" | "terminate", reason?: string): Promise<boolean>;
  close(): Promise<void>;
  /** A keep-alive answer's `controlSeq`: older control messages are refused from now on. */
  raiseFloor?(seq: number): void;
}

/** The gst child. */
export interface CapturePort {
  start(): void;
  stop(): Promise<void>;
}

/** One WHIP session; reports back through the callbacks given to `openPush`. */
export interface PushPort {
  close(): Promise<void>;
}

/** What a push session tells the flow. */
export interface PushEvents {
  connected(): void;
  /** Connected and its first keyframe sent: the MEC is receiving pictures it can decode. */
  receiving?(): void;
  failed(error: Error): void;
}

/** How a push starts. */
export interface PushOptions {
  /** Joins a running capture: send nothing before the first keyframe (handover/keyframe_gate.ts). */
  fromKeyframe?: boolean;
}

/** Everything the flow touches. */
export interface FlowPorts {
  clock: Clock;
  log: Logger;
  /** Resolves with the first position (waits for a position file to hold one). */
  locate(): Promise<LocationFix>;
  /** The latest position. */
  currentFix(): LocationFix;
  discover(fix: LocationFix): Promise<Endpoints>;
  registry(endpoints: Endpoints): RegistryPort;
  metadata(fix: LocationFix): DataflowMetadataInput;
  /**
   * Undefined when MQTT is disabled or no broker is known. `onSubscribed` runs each time the
   * control topic is (re)subscribed: demand may have changed while nobody listened.
   */
  openControl(
    registration: Registration,
    endpoints: Endpoints,
    handlers: { onSend: (send: boolean) => void; onSubscribed: () => void },
  ): ControlPort | undefined;
  capture: CapturePort;
  openPush(registration: Registration, endpoints: Endpoints, events: PushEvents, options?: PushOptions): PushPort;
  /**
   * The latest fix in the tile that has held for the handover hold (handover/tile_hysteresis.ts);
   * absent: `currentFix()`, no hysteresis.
   */
  settledFix?(): LocationFix;
}
