/**
 * The writes of a registration and of a keep-alive that carries metadata: the new flow's row
 * (and its UDP forward port under the `--udp-forward` policy), the registration answer, and a
 * metadata change that may move the sensor and take or release its port.
 */
import { hash } from "node:crypto";
import type { DataflowMetadata, Registration } from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import { PortsExhaustedError } from "../store/store.ts";
import { CapacityError } from "./errors.ts";
import { type Flow, indexedFields, positionQuadkey, topicsOf, whipUrlOf } from "./flow.ts";
import type { RegistryOptions, UdpForwardPolicy } from "./registry_types.ts";
import type { StoreWrites } from "./store_writes.ts";

type Settings = Pick<Required<RegistryOptions>, "store" | "keepaliveSeconds" | "publicUrl" | "udpForwardHost" | "controlSeq"> & {
  udpForward: UdpForwardPolicy;
};

/** SHA-256 of `text`: ingest tokens are stored and compared as hashes. */
export function sha256(text: string): Buffer {
  return hash("sha256", text, "buffer") as Buffer; // one-shot: cheaper than createHash
}

/** Whether `metadata`'s dataflow gets a UDP forward port under the `udpForward` policy. */
function forwards(policy: UdpForwardPolicy, metadata: DataflowMetadata): boolean {
  return policy === "all" ? metadata.udpForward !== false : policy === "requested" && metadata.udpForward === true;
}

/** Stores a new dataflow and returns it as a flow (its `send` still to be decided). */
export async function newFlow(
  o: Settings, writes: StoreWrites,
  r: { metadata: DataflowMetadata; owner?: string; tokenHash: string; controlKey: string; now: number },
): Promise<Flow> {
  const fields = indexedFields(r.metadata);
  const position = positionQuadkey(r.metadata);
  const keepaliveSeconds = o.keepaliveSeconds;
  const ids = await capacity(() => writes.run("dataflow_insert", () => o.store.insertDataflow({
    metadata: JSON.stringify(r.metadata), ...fields, positionQuadkey: position ?? "", tokenHash: r.tokenHash,
    controlKey: r.controlKey, keepaliveSeconds, now: r.now, udpForward: forwards(o.udpForward, r.metadata), owner: r.owner,
  })));
  return {
    id: ids.id, metadata: r.metadata, ...fields, positionQuadkey: position, tokenHash: r.tokenHash, controlKey: r.controlKey,
    keepaliveSeconds, registeredAt: r.now, lastSeen: r.now, state: "registered", send: false, port: ids.port, owner: r.owner ?? null,
  };
}

/** The registration answer of `flow` (the ingest `token` is in it once, never stored in clear). */
export function registrationOf(flow: Flow, token: string, o: Settings): Registration {
  return {
    id: flow.id,
    ...topicsOf(flow.dataType, flow.dataSubType, flow.id),
    send: flow.send,
    keepaliveSeconds: flow.keepaliveSeconds,
    ingest: { whipUrl: whipUrlOf(o.publicUrl, flow.id), token },
    udpForward: flow.port === null ? null : { host: o.udpForwardHost, port: flow.port },
    control: { key: flow.controlKey!, seq: o.controlSeq() },
  };
}

/**
 * Stores `metadata` as `flow`'s (the sensor may have moved: its position key is recomputed) and,
 * when the policy's answer changed, takes or releases its UDP forward port; `flow` changes only
 * once the write succeeded.
 */
export async function withMetadata(flow: Flow, metadata: DataflowMetadata, now: number, o: Settings, writes: StoreWrites, log: Logger): Promise<void> {
  const fields = indexedFields(metadata);
  const position = positionQuadkey(metadata);
  const forward = forwards(o.udpForward, metadata);
  const id = flow.id;
  const port = await capacity(() => writes.run("dataflow_update", () => o.store.updateDataflow(id,
    { metadata: JSON.stringify(metadata), ...fields, positionQuadkey: position ?? "", now },
    forward === (flow.port !== null) ? undefined : forward)));
  if (port !== flow.port) {
    log.info(port !== null ? "udp forward port allocated" : "udp forward port released", { id, udpForwardPort: port ?? flow.port });
  }
  Object.assign(flow, { metadata, ...fields, positionQuadkey: position, port });
}

/** Runs `fn`, turning a full UDP port range into a CapacityError (503). */
export async function capacity<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PortsExhaustedError) throw new CapacityError(err.message, { cause: err });
    throw err;
  }
}
