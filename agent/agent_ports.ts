/**
 * The real I/O behind the flow's ports: position (fixed or file), discovery, the registration
 * API, MQTT control, the supervised gst child, and WHIP sessions (agent/push).
 */
import { readFileSync } from "node:fs";
import { HEADER_ZOOM, quadkey, type Registration } from "../shared/mod.ts";
import { CaptureSupervisor } from "./capture/capture_supervisor.ts";
import { encoderRungs, needsEncoder, pipelineArgv, rungOf } from "./capture/pipeline.ts";
import type { CaptureStats } from "./capture_stats.ts";
import { offsetClock, systemClock } from "./clock.ts";
import type { AgentConfig } from "./config/options.ts";
import { ControlChannel } from "./control/control_channel.ts";
import { ControlCounters } from "./control/control_verifier.ts";
import { discoverEndpoints } from "./discovery/discover_endpoints.ts";
import type { FlowPorts, PushEvents, PushOptions, PushPort } from "./flow_ports.ts";
import { KeyframeGate } from "./handover/keyframe_gate.ts";
import { TileHysteresis } from "./handover/tile_hysteresis.ts";
import { type LocationFix, locationFix } from "./location/location_fix.ts";
import { readPositionFile, watchPositionFile } from "./location/position_file.ts";
import type { Logger } from "./log.ts";
import { CaptureStamper } from "./push/capture_stamp.ts";
import type { SendMark } from "./push/ladder_select.ts";
import { type AdaptStatus, type AdaptTotals, LinkAdaptation } from "./push/link_adaptation.ts";
import { WhipPublisher } from "./push/whip_publisher.ts";
import { RtpStreamReader } from "./push/rtp_stream_reader.ts";
import { dataflowMetadata } from "./registration/dataflow_metadata.ts";
import { RegistrationClient } from "./registration/registration_client.ts";
import { fetchTrusting } from "./runtime.ts";
import { VideoSizeWatch } from "./registration/video_size.ts";

/** A resolved config (sourceId and keyint filled in). */
export type ResolvedConfig = AgentConfig & { sourceId: string; keyint: number };

/** Wires the flow to the real world; `stats` is updated for every packet, `control` for every control message. */
export function agentPorts(
  config: ResolvedConfig, log: Logger, stats: CaptureStats, control = new ControlCounters(),
): FlowPorts & { close(): void } {
  let fix: LocationFix | undefined = config.lat !== undefined ? locationFix({ lat: config.lat, lon: config.lon! }) : undefined;
  let unwatch = () => {};
  // Every open WHIP session gets every packet: two during a make-before-break handover. Each
  // adapts to its own link (push/link_adaptation.ts) unless --ladder off.
  const publishers = new Map<WhipPublisher, { link: LinkAdaptation | undefined; deliver: (packet: Uint8Array, mark: SendMark) => void }>();
  const rungs = encoderRungs(config);
  const lastStage = new Map<string, number>();
  const adaptTotals: AdaptTotals = { down: 0, up: 0, history: [] };
  let adaptStatus: () => AdaptStatus = () => ({
    mode: "off", rung: 0, rungKbps: needsEncoder(config) ? config.bitrate : null, estimateKbps: null,
    switchesDown: 0, switchesUp: 0, droppedForLink: 0, switches: [],
  });
  stats.adapt = () => adaptStatus();
  const hysteresis = new TileHysteresis({ holdMs: config.handoverHold * 1000 });
  // udp/rtsp/file/camera H.264 ignore --width/--height: the next keep-alive sends the SPS's size.
  const videoSize = new VideoSizeWatch();
  // HTTPS to the proxy trusting --proxy-ca-file; undefined: the runtime's fetch and system CAs.
  const proxyFetch = config.proxyCaFile ? fetchTrusting(readFileSync(config.proxyCaFile, "utf8")) : undefined;
  // Each picture's capture time, stamped as its first packet leaves gst (push/capture_stamp.ts);
  // a ladder's rungs interleave, so each has its own stamper.
  const stampers = rungs.map(() => new CaptureStamper());
  const captureClock = offsetClock(systemClock, config.clockOffsetMs);

  const capture = new CaptureSupervisor({
    command: config.gstLaunch,
    argv: pipelineArgv(config),
    log: log.child({ component: "capture" }),
    loop: config.loop,
    createReader: (onPacket) => {
      const reader = new RtpStreamReader();
      return { push: (chunk) => reader.push(chunk).forEach(onPacket) };
    },
    onPacket: (raw) => {
      const rung = rungs.length > 1 ? rungOf(raw) : 0;
      const stamper = stampers[rung] ?? stampers[0]!;
      const packet = stamper.stamp(raw, captureClock.now());
      stats.captureStamped = stampers[0]!.counters.stamped;
      stats.captureUnstampable = stampers[0]!.counters.unstampable;
      // Capture figures are the top rung's (what the camera gives at --bitrate).
      if (rung === 0) stats.count(packet);
      const size = videoSize.observe(packet);
      if (size) log.info("video size detected", { ...size, configured: { width: config.width, height: config.height } });
      if (publishers.size === 0 && rung === 0) stats.unsent++;
      for (const { link, deliver } of publishers.values()) {
        if (link) link.select(packet, deliver);
        else deliver(packet, undefined);
      }
    },
    onRestart: () => stats.restarts++,
  });

  const locate = async (): Promise<LocationFix> => {
    if (fix) return fix;
    const path = config.positionFile!;
    unwatch = watchPositionFile(path, (p) => {
      const next = locationFix(p);
      if (next.tile !== fix?.tile) log.info("moved", { lat: p.lat, lon: p.lon, tile: next.tile });
      fix = next;
      hysteresis.observe(next, Date.now());
      stats.tileChangesHeld = hysteresis.counters.suppressed;
    }, (error) => log.warn("position file unreadable", { path, error }));
    for (let warned = false; !fix; warned = true) {
      try {
        fix = locationFix(readPositionFile(path));
      } catch (error) {
        if (!warned) log.warn("waiting for a position", { path, error });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    hysteresis.observe(fix, Date.now());
    log.info("located", { lat: fix.lat, lon: fix.lon, tile: fix.tile });
    return fix;
  };

  const openPush = (reg: Registration, endpoints: { whipUrl?: string }, events: PushEvents, options: PushOptions = {}): PushPort => {
    const url = endpoints.whipUrl ?? reg.ingest.whipUrl;
    const iceServers = [
      ...config.stun.map((urls) => ({ urls })),
      ...config.turn.map((urls) => ({ urls, username: config.turnUser, credential: config.turnPassword })),
    ];
    const pub = new WhipPublisher({
      url,
      token: reg.ingest.token,
      iceServers,
      interfaceAddresses: config.iceAddress.length ? config.iceAddress : undefined,
      fps: config.fps,
      fetch: proxyFetch,
      log: log.child({ component: "push" }),
    });
    let ended = false;
    const detach = () => {
      const entry = publishers.get(pub);
      if (entry?.link) lastStage.set(url, entry.link.stage);
      if (!publishers.delete(pub)) return;
      stats.sentByEnded += pub.counters.packetsSent;
    };
    const fail = (reason: string) => {
      if (ended) return;
      ended = true;
      detach();
      events.failed(new Error(reason));
    };
    // Receiving: connected, and a keyframe sent (replayed from the GOP cache, or the gate's first).
    const gate = options.fromKeyframe ? new KeyframeGate() : undefined;
    let connected = false;
    const receiving = () => {
      if (connected && (!gate || gate.open) && !ended) events.receiving?.();
    };
    if (gate) gate.onOpen = receiving;
    pub.on("connected", () => {
      connected = true;
      events.connected();
      receiving();
    });
    pub.on("failed", (e) => fail(e.reason));
    pub.on("disconnected", (e) => fail(e.reason));
    pub.on("pli", () => stats.plis++);
    // A new session to the same WHIP endpoint (a reconnect) starts where the last one was.
    const link = config.ladder === "off" ? undefined : new LinkAdaptation({
      rungsKbps: rungs.length > 1 ? rungs : [],
      start: lastStage.get(url),
      totals: adaptTotals,
      log: log.child({ component: "uplink" }),
      onChange: () => stats.onAdaptChange?.(),
    });
    if (link) {
      pub.onTwcc = (report, sent) => link.report(report, sent);
      adaptStatus = () => link.status(); // the newest session's
    }
    // What this session is sent, behind its handover gate.
    const deliver = (p: Uint8Array, mark: SendMark) => {
      if (!gate || gate.open) pub.sendRtp(p, mark);
      else if (gate.admit(p)) {
        pub.sendRtp(p);
        gate.onOpen?.();
      } else stats.handoverAwaitingKeyframe++;
    };
    publishers.set(pub, { link, deliver });
    stats.sentByCurrent = () => [...publishers.keys()].reduce((sum, p) => sum + p.counters.packetsSent, 0);
    pub.start().catch((error: Error) => fail(error.message));
    return {
      close: async () => {
        ended = true;
        detach();
        await pub.close();
      },
    };
  };

  return {
    clock: systemClock,
    log,
    locate,
    currentFix: () => fix!,
    // A fixed sensor never moves; a position file's tile counts once it has held (--handover-hold).
    settledFix: () => hysteresis.settledFix(Date.now()) ?? fix!,
    discover: (f) => discoverEndpoints(f.tile, { ...config, fetch: proxyFetch }),
    registry: (endpoints) => new RegistrationClient(endpoints.registrationUrl, { token: config.apiToken, fetch: proxyFetch }),
    metadata: (f) => dataflowMetadata({ ...config, videoSize: videoSize.current }, f, new Date()),
    openControl: (reg, endpoints, handlers) => {
      if (config.noMqtt) return undefined;
      if (endpoints.mqttUrls.length === 0) {
        log.warn("no message broker known: demand comes from keep-alives only");
        return undefined;
      }
      const metadata = dataflowMetadata(config, fix!, new Date());
      return new ControlChannel({
        urls: endpoints.mqttUrls,
        username: config.mqttUser,
        password: config.mqttPassword,
        ca: config.mqttCaFile ? readFileSync(config.mqttCaFile, "utf8") : undefined,
        caFile: config.mqttCaFile,
        cert: config.mqttCertFile ? readFileSync(config.mqttCertFile, "utf8") : undefined,
        key: config.mqttKeyFile ? readFileSync(config.mqttKeyFile, "utf8") : undefined,
        id: reg.id,
        controlKey: reg.control?.key,
        controlSeq: reg.control?.seq,
        counters: control,
        event: { id: reg.id, ...metadata, locationQuadkey: quadkey(fix!.lat, fix!.lon, HEADER_ZOOM) },
        log: log.child({ component: "control" }),
        ...handlers,
      });
    },
    capture,
    openPush,
    close: () => unwatch(),
  };
}
