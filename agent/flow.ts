/**
 * The sensor flow (DESIGN.md steps 1–9) as one state machine with logged transitions:
 *
 *   locating → discovering → registering → idle ⇄ starting → streaming ⇄ reconnecting
 *                     ↑___________(404 on keep-alive)___|          |
 *   any ── SIGINT/SIGTERM/--ttl ──→ stopping → stopped   idle ←─ stopping ←─ send:false
 *
 * `send` comes from the keep-alive answer, or at once from MQTT `control/{id}`. Failures
 * never end the flow: the registration API is retried with backoff, a forgotten dataflow is
 * registered again, a failed WHIP session is replaced within 2 s (a 409 is retried until the
 * MEC lets the new session take over).
 *
 * Handover (handover/): once the vehicle's tile has held long enough (hysteresis) and
 * discovery names another MEC, the flow joins that MEC beside the old one — registers, and
 * when both stream, pushes there too from the same capture — then ends the old MEC's session
 * and registration (make-before-break; no demand at the new MEC: nothing to overlap).
 */
import { maskUrl, type Registration } from "../shared/mod.ts";
import { Backoff } from "./backoff.ts";
import { TimerSet } from "./timer_set.ts";
import type { TimerHandle } from "./clock.ts";
import type { Endpoints } from "./discovery/discover_endpoints.ts";
import { EndpointFailover, isUnreachable } from "./discovery/endpoint_failover.ts";
import type { ControlPort, FlowPorts, PushPort, RegistryPort } from "./flow_ports.ts";
import { HANDOVER_OVERLAP_MS, joinNextMec, type NextMec } from "./handover/next_mec.ts";
import { metadataChangeKey } from "./registration/dataflow_metadata.ts";
import { DataflowGoneError } from "./registration/registration_client.ts";

/** States of the flow. */
export type FlowState =
  | "locating" | "discovering" | "registering" | "idle" | "starting" | "streaming" | "reconnecting" | "stopping" | "stopped";

const STREAMING: ReadonlySet<FlowState> = new Set(["starting", "streaming", "reconnecting"]);

/** Options of {@link SensorFlow}. */
export interface FlowOptions {
  /** Stop and exit after this many seconds; 0 = never. */
  ttlSeconds: number;
  keepRegistration: boolean;
  /** Longest wait before a new WHIP session; default 2000 ms. */
  pushRetryMaxMs?: number;
  /** Called on each transition (status reporting). */
  onState?: (state: FlowState, info: { id?: number; reason: string }) => void;
}

/** Runs the nine steps for one sensor until `shutdown()`. */
export class SensorFlow {
  #p: FlowPorts;
  #o: FlowOptions;
  #state: FlowState = "locating";
  #chain: Promise<void> = Promise.resolve();
  #reg: Registration | undefined;
  #endpoints: Endpoints | undefined;
  #registry: RegistryPort | undefined;
  #control: ControlPort | undefined;
  #push: PushPort | undefined;
  #wantSend = false;
  #stopping = false;
  #timers: TimerSet;
  #keepaliveTimer: TimerHandle | undefined;
  #pushTimer: TimerHandle | undefined;
  #done!: () => void;
  #finished = new Promise<void>((resolve) => (this.#done = resolve));
  #registerBackoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  #pushBackoff: Backoff;
  #sentMetadata = "";
  /** Control messages received so far: a keep-alive answer older than the last one is stale. */
  #controlSeq = 0;
  /** Tile the current MEC was discovered for. */
  #tile = "";
  /** A handover is joining the next MEC. */
  #moving = false;
  /** Settles once a handover's join (and its overlap) is over: shutdown waits for it. */
  #joining: Promise<unknown> = Promise.resolve();
  /** Registration API replicas that stopped answering (issue #13). */
  #failover: EndpointFailover;

  constructor(ports: FlowPorts, options: FlowOptions) {
    this.#p = ports;
    this.#o = options;
    this.#timers = new TimerSet(ports.clock);
    this.#failover = new EndpointFailover(() => ports.clock.now());
    this.#pushBackoff = new Backoff({ initialMs: 250, maxMs: options.pushRetryMaxMs ?? 2000, jitter: 0.1 });
  }

  /** The current state. */
  get state(): FlowState {
    return this.#state;
  }

  /** The current dataflow id, once registered. */
  get dataflowId(): number | undefined {
    return this.#reg?.id;
  }

  #to(state: FlowState, reason: string): void {
    if (state === this.#state) return;
    this.#p.log.info("state changed", { from: this.#state, to: state, reason, id: this.#reg?.id });
    this.#state = state;
    this.#o.onState?.(state, { id: this.#reg?.id, reason });
  }

  /** Runs operations one at a time, in order, so transitions never interleave. */
  #enqueue(op: () => Promise<void> | void): Promise<void> {
    const next = this.#chain.then(op).catch((error) => this.#p.log.error("flow step failed", { error }));
    this.#chain = next;
    return next;
  }

  /** Runs the flow; resolves once it has stopped. */
  async run(): Promise<void> {
    if (this.#o.ttlSeconds > 0) this.#timers.after(this.#o.ttlSeconds * 1000, () => this.shutdown("ttl elapsed"));
    this.#o.onState?.("locating", { reason: "started" });
    this.#p.log.info("state changed", { from: null, to: "locating", reason: "started" });
    const fix = await Promise.race([this.#p.locate(), this.#finished.then(() => undefined)]);
    if (fix && !this.#stopping) await this.#connect(fix);
    await this.#finished;
  }

  /** Steps 1–4, retried with backoff until they succeed or the agent stops. */
  async #connect(fix = this.#p.currentFix()): Promise<void> {
    while (!this.#stopping) {
      try {
        this.#to("discovering", "tile " + fix.tile);
        this.#tile = fix.tile;
        this.#endpoints = this.#failover.choose(await this.#p.discover(fix));
        this.#to("registering", this.#endpoints.registrationUrl);
        this.#registry = this.#p.registry(this.#endpoints);
        const metadata = this.#p.metadata(this.#p.currentFix());
        const reg = await this.#registry.register(metadata);
        this.#sentMetadata = metadataChangeKey(metadata);
        if (this.#stopping) {
          if (!this.#o.keepRegistration) await this.#registry.remove(reg.id).catch(() => {});
          return;
        }
        return this.#enqueue(() => this.#registered(reg));
      } catch (error) {
        // Another replica of the registration API is tried at once.
        const moved = isUnreachable(error) && this.#endpoints !== undefined && this.#failover.next(this.#endpoints) !== undefined;
        const delay = moved ? 0 : this.#registerBackoff.next();
        this.#p.log.warn("registration failed", { error, retryInMs: delay });
        await this.#timers.sleep(delay);
        fix = this.#p.currentFix();
      }
    }
  }

  /** The flow now serves `reg`; `next`: a handover's new MEC, whose control channel is already open. */
  #registered(reg: Registration, next?: NextMec): void {
    this.#reg = reg;
    this.#registerBackoff.reset();
    this.#p.log.info("registered", { id: reg.id, routingKey: reg.routingKey, send: reg.send, keepaliveSeconds: reg.keepaliveSeconds, udpForward: reg.udpForward });
    let subscriptions = 0;
    const handlers = {
      onSend: (send: boolean) => {
        this.#controlSeq++;
        this.#setSend(send, "control message");
      },
      onSubscribed: () => {
        if (this.#reg !== reg) return;
        // Back after an MQTT outage while streaming: the broker may have published our last
        // will (terminatedataflow, "connection lost") meanwhile, so say again that we stream.
        if (++subscriptions > 1 && STREAMING.has(this.#state)) void this.#control?.announce("new");
        void this.#keepalive();
      },
    };
    this.#control = next ? next.control : this.#p.openControl(reg, this.#endpoints!, handlers);
    if (!STREAMING.has(this.#state)) this.#to("idle", "registered");
    this.#scheduleKeepalive(reg.keepaliveSeconds);
    this.#setSend(reg.send, "registration answer");
    const push = next?.push;
    next?.adopt({
      ...handlers,
      connected: () => void this.#enqueue(() => push && this.#pushConnected(push)),
      failed: (error) => void this.#enqueue(() => push && this.#pushFailed(push, error)),
    });
  }

  #scheduleKeepalive(seconds: number): void {
    this.#timers.cancel(this.#keepaliveTimer);
    this.#keepaliveTimer = this.#timers.after(seconds * 1000, () => void this.#keepalive());
  }

  async #keepalive(): Promise<void> {
    const reg = this.#reg;
    if (!reg || this.#stopping || (await this.#handover())) return;
    const metadata = this.#p.metadata(this.#p.currentFix());
    const changeKey = metadataChangeKey(metadata);
    let period = reg.keepaliveSeconds;
    const controlSeq = this.#controlSeq;
    try {
      const answer = await this.#registry!.keepalive(reg.id, changeKey === this.#sentMetadata ? undefined : metadata);
      this.#sentMetadata = changeKey;
      period = answer.keepaliveSeconds ?? period;
      this.#p.log.debug("keep-alive answered", { id: reg.id, send: answer.send });
      // Its send supersedes every control message signed before it: none of those may be replayed.
      if (this.#reg === reg && answer.controlSeq !== undefined) this.#control?.raiseFloor?.(answer.controlSeq);
      // A control message that came while this request was on its way is newer than its answer.
      if (this.#reg === reg && controlSeq === this.#controlSeq) this.#setSend(answer.send, "keep-alive answer");
    } catch (error) {
      if (error instanceof DataflowGoneError && this.#reg === reg) {
        this.#p.log.warn("dataflow forgotten by the MEC", { id: reg.id });
        await this.#enqueue(() => this.#reRegister("dataflow forgotten", false));
        return;
      }
      this.#p.log.warn("keep-alive failed", { id: reg.id, error });
      if (isUnreachable(error) && this.#failOver(reg)) return;
    }
    if (this.#reg === reg && !this.#stopping) this.#scheduleKeepalive(period);
  }

  /** Keeps `reg` alive on the next registration API replica at once; false when there is none. */
  #failOver(reg: Registration): boolean {
    const next = this.#failover.next(this.#endpoints!, reg);
    if (!next) return false;
    this.#p.log.warn("registration API moved", { id: reg.id, from: maskUrl(this.#endpoints!.registrationUrl), to: maskUrl(next.registrationUrl) });
    const whipMoved = next.whipUrl !== this.#endpoints!.whipUrl;
    this.#endpoints = next;
    this.#registry = this.#p.registry(next);
    // The WHIP session was on the replica that stopped answering: a new one on the next.
    const push = this.#push;
    if (whipMoved && push) void this.#enqueue(() => this.#pushFailed(push, new Error("WHIP endpoint moved to another replica")));
    void this.#keepalive();
    return true;
  }

  /** Registers anew: the MEC forgot the dataflow. */
  async #reRegister(reason: string, removeOld: boolean): Promise<void> {
    await this.#stopStreaming(reason);
    await this.#control?.close();
    const old = this.#reg;
    if (removeOld && old && !this.#o.keepRegistration) {
      await this.#registry!.remove(old.id).catch((error) => this.#p.log.warn("registration delete failed", { id: old.id, error }));
    }
    this.#control = undefined;
    this.#reg = undefined;
    void this.#connect();
  }

  /**
   * Steps 1–2 again when the settled tile changed: a vehicle that left its MEC's area hands
   * over to the MEC that serves the new tile, make-before-break, in the background (the old
   * MEC's keep-alives go on meanwhile, so this is always false: the keep-alive is sent). A
   * failed discovery or registration leaves the tile unsettled, so the next keep-alive asks again.
   */
  async #handover(): Promise<boolean> {
    const fix = this.#p.settledFix?.() ?? this.#p.currentFix();
    if (fix.tile === this.#tile || this.#moving) return false;
    this.#moving = true;
    try {
      const endpoints = await this.#p.discover(fix);
      // Still the same MEC when its replicas include the one in use (after a failover it is not the first).
      if ((endpoints.registrationUrls ?? [endpoints.registrationUrl]).includes(this.#endpoints?.registrationUrl ?? "")) {
        this.#tile = fix.tile;
        this.#moving = false;
        return false;
      }
      this.#p.log.info("serving MEC changed", { tile: fix.tile, from: this.#endpoints && maskUrl(this.#endpoints.registrationUrl), to: maskUrl(endpoints.registrationUrl) });
      void this.#move(endpoints, fix.tile).finally(() => (this.#moving = false));
    } catch (error) {
      this.#moving = false;
      this.#p.log.warn("discovery failed", { tile: fix.tile, error });
    }
    return false;
  }

  /** Joins the next MEC (registration, and an overlapping push when both stream), then switches. */
  async #move(endpoints: Endpoints, tile: string): Promise<void> {
    const joined = this.#join(endpoints);
    this.#joining = joined;
    const next = await joined;
    if (next) await this.#enqueue(() => this.#switchTo(next, tile));
  }

  /** The join and its overlap; undefined when it failed, or the flow stopped meanwhile (then undone). */
  async #join(endpoints: Endpoints): Promise<NextMec | undefined> {
    let next: NextMec;
    try {
      next = await joinNextMec(this.#p, endpoints, { streaming: STREAMING.has(this.#state) && this.#wantSend });
    } catch (error) {
      this.#p.log.warn("registration at the new MEC failed: staying", { registrationUrl: maskUrl(endpoints.registrationUrl), error });
      return undefined;
    }
    this.#p.log.info("joined the new MEC", { id: next.reg.id, send: next.reg.send, overlapping: next.push !== undefined });
    // The clock, not the timer set: shutdown cancels those, and it waits for this.
    if (next.push && !this.#stopping) await new Promise<void>((resolve) => this.#p.clock.setTimeout(resolve, HANDOVER_OVERLAP_MS));
    if (!this.#stopping) return next;
    await next.abandon(!this.#o.keepRegistration);
    return undefined;
  }

  /** Ends the old MEC's session and registration and makes `next` the flow's MEC. */
  async #switchTo(next: NextMec, tile: string): Promise<void> {
    if (this.#stopping) return next.abandon(!this.#o.keepRegistration);
    const reason = "moved to another MEC";
    const overlap = next.push !== undefined && STREAMING.has(this.#state);
    if (overlap) {
      // The capture goes on: only the old MEC's session ends.
      await this.#endSession(reason);
    } else {
      await next.push?.close().catch(() => {}); // the old stream stopped meanwhile
      await this.#stopStreaming(reason);
    }
    await this.#control?.close();
    const old = this.#reg;
    if (old && !this.#o.keepRegistration) {
      await this.#registry!.remove(old.id).then(
        () => this.#p.log.info("registration deleted", { id: old.id }),
        (error) => this.#p.log.warn("registration delete failed", { id: old.id, error }),
      );
    }
    this.#p.log.info("handed over", { from: old?.id, to: next.reg.id, mecId: next.endpoints.mecId, makeBeforeBreak: overlap });
    this.#endpoints = next.endpoints;
    this.#registry = next.registry;
    this.#tile = tile;
    this.#sentMetadata = next.metadataKey;
    this.#control = undefined;
    if (overlap) this.#push = next.push;
    this.#registered(next.reg, next);
    if (overlap) {
      this.#to("streaming", "handed over");
      this.#o.onState?.(this.#state, { id: next.reg.id, reason: "handed over" });
    }
  }

  #setSend(send: boolean, origin: string): void {
    if (send !== this.#wantSend) this.#p.log.info("demand changed", { send, origin, id: this.#reg?.id });
    this.#wantSend = send;
    void this.#enqueue(() => this.#reconcile(origin));
  }

  async #reconcile(origin: string): Promise<void> {
    if (this.#stopping || !this.#reg) return;
    if (this.#wantSend && this.#state === "idle") this.#startStreaming(origin);
    else if (!this.#wantSend && STREAMING.has(this.#state)) await this.#stopStreaming(`send false (${origin})`);
  }

  /** Steps 7–8: announce, start the gst child and a WHIP session side by side. */
  #startStreaming(origin: string): void {
    this.#to("starting", `send true (${origin})`);
    void this.#control?.announce("new");
    this.#p.capture.start();
    this.#openPush();
  }

  #openPush(): void {
    this.#pushTimer = undefined;
    const reg = this.#reg!;
    const push = this.#p.openPush(reg, this.#endpoints!, {
      connected: () => void this.#enqueue(() => this.#pushConnected(push)),
      failed: (error) => void this.#enqueue(() => this.#pushFailed(push, error)),
    });
    this.#push = push;
  }

  #pushConnected(push: PushPort): void {
    if (push !== this.#push || !STREAMING.has(this.#state)) return;
    this.#pushBackoff.reset();
    this.#to("streaming", "WHIP session connected");
  }

  #pushFailed(push: PushPort, error: Error): void {
    if (push !== this.#push || !STREAMING.has(this.#state)) return;
    this.#push = undefined;
    void push.close().catch(() => {});
    const delay = this.#pushBackoff.next();
    this.#p.log.warn("WHIP session failed", { error, retryInMs: delay });
    this.#to("reconnecting", error.message);
    this.#pushTimer = this.#timers.after(delay, () => void this.#enqueue(() => {
      if (this.#state === "reconnecting") this.#openPush();
    }));
  }

  /** Step 9: announce the end, end the WHIP session, stop the gst child. */
  async #stopStreaming(reason: string, then: FlowState = "idle"): Promise<void> {
    if (!STREAMING.has(this.#state)) return;
    this.#to("stopping", reason);
    await this.#endSession(reason, () => this.#p.capture.stop());
    this.#to(then, reason);
  }

  /** Announces `terminatedataflow` and ends the WHIP session, `also` (started last) beside them. */
  async #endSession(reason: string, also?: () => Promise<unknown>): Promise<void> {
    this.#timers.cancel(this.#pushTimer);
    const push = this.#push;
    this.#push = undefined;
    await Promise.all([
      this.#control?.announce("terminate", reason),
      push?.close().catch((error) => this.#p.log.warn("WHIP delete failed", { error })),
      also?.(),
    ]);
  }

  /** Ends the session (step 9), deletes the registration unless kept, and stops. */
  shutdown(reason: string): Promise<void> {
    if (this.#stopping) return this.#finished;
    this.#stopping = true;
    this.#p.log.info("shutdown requested", { reason });
    this.#timers.wake();
    void this.#enqueue(async () => {
      await this.#stopStreaming(reason, "stopping");
      this.#timers.cancelAll();
      await this.#joining; // a handover's new MEC is undone too
      this.#to("stopping", reason);
      await this.#control?.close();
      if (this.#reg && !this.#o.keepRegistration) {
        await this.#registry!.remove(this.#reg.id).then(
          () => this.#p.log.info("registration deleted", { id: this.#reg!.id }),
          (error) => this.#p.log.warn("registration delete failed", { id: this.#reg!.id, error }),
        );
      }
      this.#to("stopped", reason);
      this.#done();
    });
    return this.#finished;
  }
}
