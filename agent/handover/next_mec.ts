/**
 * The new MEC's side of a make-before-break handover (issue #15 item 3): register there, open
 * its control channel, and — when the stream is on and the new MEC wants it — start a second
 * WHIP push from the same capture and wait until it is receiving (connected, and its first
 * keyframe sent). Until the flow adopts it, what the new MEC's control channel and push say
 * is held here: the old MEC is still the flow's.
 *
 *   old MEC  ══ push ═══════════════════════════╗ terminate, DELETE
 *   new MEC       register ─ control ─ push ══ receiving ═ overlap ═══════ …
 */
import type { Registration } from "../../shared/mod.ts";
import type { Endpoints } from "../discovery/discover_endpoints.ts";
import { metadataChangeKey } from "../registration/dataflow_metadata.ts";
import type { ControlPort, FlowPorts, PushEvents, PushPort, RegistryPort } from "../flow_ports.ts";

/** How long the new push may take to be receiving before the handover gives up overlapping. */
export const NEXT_PUSH_TIMEOUT_MS = 10_000;

/** How long both pushes run once the new one is receiving: its first frames are on their way. */
export const HANDOVER_OVERLAP_MS = 500;

/** What the flow handles once it adopts the new MEC. */
export interface AdoptHandlers extends PushEvents {
  onSend(send: boolean): void;
  onSubscribed(): void;
}

/** The new MEC, joined but not yet the flow's. */
export interface NextMec {
  endpoints: Endpoints;
  registry: RegistryPort;
  reg: Registration;
  /** `metadataChangeKey()` of the metadata registered there. */
  metadataKey: string;
  control: ControlPort | undefined;
  /** The overlapping push: receiving. Undefined: nothing to overlap (no demand, not streaming, or it failed). */
  push: PushPort | undefined;
  /** Routes the control channel's and the push's events to `handlers`, replaying what came meanwhile. */
  adopt(handlers: AdoptHandlers): void;
  /** Ends everything opened here (the flow stopped meanwhile). */
  abandon(removeRegistration: boolean): Promise<void>;
}

/** Options of {@link joinNextMec}. */
export interface JoinOptions {
  /** The old MEC's stream is on: overlap it when the new MEC wants the stream too. */
  streaming: boolean;
  /** Default {@link NEXT_PUSH_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Joins the MEC at `endpoints`; throws when it cannot register there (the old MEC stays). */
export async function joinNextMec(p: FlowPorts, endpoints: Endpoints, o: JoinOptions): Promise<NextMec> {
  const registry = p.registry(endpoints);
  const metadata = p.metadata(p.currentFix());
  const reg = await registry.register(metadata);
  let target: AdoptHandlers | undefined;
  let lastSend: boolean | undefined;
  let subscribed = false;
  const control = p.openControl(reg, endpoints, {
    onSend: (send) => (target ? target.onSend(send) : (lastSend = send)),
    onSubscribed: () => (target ? target.onSubscribed() : (subscribed = true)),
  });
  let push: PushPort | undefined;
  if (o.streaming && reg.send) void control?.announce("new");
  if (o.streaming && reg.send) push = await openReceivingPush(p, reg, endpoints, o.timeoutMs ?? NEXT_PUSH_TIMEOUT_MS, () => target);
  return {
    endpoints, registry, reg, control, push, metadataKey: metadataChangeKey(metadata),
    adopt: (handlers) => {
      target = handlers;
      if (subscribed) handlers.onSubscribed();
      if (lastSend !== undefined) handlers.onSend(lastSend);
    },
    abandon: async (removeRegistration) => {
      await push?.close().catch(() => {});
      await control?.close();
      if (removeRegistration) await registry.remove(reg.id).catch(() => {});
    },
  };
}

/**
 * A push to the new MEC that starts at a keyframe; resolves once receiving, or undefined (push
 * closed) when it failed or timed out. Its later events go to the adopting flow.
 */
async function openReceivingPush(
  p: FlowPorts, reg: Registration, endpoints: Endpoints, timeoutMs: number, adopted: () => AdoptHandlers | undefined,
): Promise<PushPort | undefined> {
  let settle!: (ok: boolean) => void;
  const outcome = new Promise<boolean>((resolve) => (settle = resolve));
  const timer = p.clock.setTimeout(() => settle(false), timeoutMs);
  let failure: Error | undefined;
  const push = p.openPush(reg, endpoints, {
    connected: () => adopted()?.connected(),
    receiving: () => settle(true),
    failed: (error) => {
      failure = error;
      settle(false);
      adopted()?.failed(error);
    },
  }, { fromKeyframe: true });
  const ok = await outcome;
  p.clock.clearTimeout(timer);
  if (ok) return push;
  p.log.warn("push to the new MEC not receiving: handing over without overlap", { id: reg.id, error: failure, timeoutMs });
  await push.close().catch(() => {});
  return undefined;
}
