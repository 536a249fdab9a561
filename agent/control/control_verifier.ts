/**
 * Decides whether a control message is the proxy's word (issue #12, finding 4). Every agent on
 * a MEC shares the broker, so anyone who can publish to `control/{id}` could switch this
 * dataflow off; only a message whose `mac` is HMAC-SHA256 over `controlMacInput()` under the
 * key from our registration answer counts, and only when its `seq` is above the last accepted
 * one (a captured genuine message replayed later is refused). Pure: no I/O, no clock.
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { ControlMessageSchema, controlMacInput } from "../../shared/mod.ts";

/** Why a control message was ignored. */
export type ControlRejection =
  | "not JSON"
  | "unexpected body"
  /** Valid, but for another dataflow id. */
  | "other dataflow"
  /** No `seq`/`mac`: an older proxy, or someone who does not know the key. */
  | "unsigned"
  /** A `mac` that does not match: forged or damaged. */
  | "forged"
  /** A genuine message whose `seq` is not above the last accepted one. */
  | "replayed"
  /** We hold no key (the registration answer carried none), so nothing can be trusted. */
  | "no key";

/** Counts of ignored control messages, shared by every channel of one agent (status line). */
export class ControlCounters {
  /** Accepted (genuine, fresh) control messages. */
  accepted = 0;
  readonly rejected: Record<ControlRejection, number> = {
    "not JSON": 0, "unexpected body": 0, "other dataflow": 0, unsigned: 0, forged: 0, replayed: 0, "no key": 0,
  };

  /** Every ignored message, whatever the reason. */
  get rejectedTotal(): number {
    return Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }
}

/** The outcome of {@link ControlVerifier.check}. */
export type ControlVerdict = { ok: true; send: boolean; seq: number } | { ok: false; reason: ControlRejection };

/** The HMAC-SHA256 of a control message under `key` (base64url), as raw bytes. */
function macOf(key: Buffer, message: { id: number; send: boolean; seq: number }): Buffer {
  return createHmac("sha256", key).update(controlMacInput(message)).digest();
}

/** Checks the control messages of one registration (one dataflow id, one key). */
export class ControlVerifier {
  readonly #id: number;
  readonly #key: Buffer | undefined;
  readonly #counters: ControlCounters;
  #lastSeq = -1;

  /**
   * `key` is the registration answer's `control.key` (base64url); without it every message is
   * refused. `floor` is its `control.seq`: messages signed before the answer are refused too.
   */
  constructor(id: number, key: string | undefined, counters = new ControlCounters(), floor = -1) {
    this.#id = id;
    this.#lastSeq = floor;
    this.#key = key ? Buffer.from(key, "base64url") : undefined;
    this.#counters = counters;
  }

  /** Where this verifier counts (shared by the agent's channels). */
  get counters(): ControlCounters {
    return this.#counters;
  }

  /** The `seq` of the last accepted message; -1 before the first. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /**
   * Raises the replay floor to a keep-alive answer's `controlSeq`: the answer's `send` is newer
   * than every message signed before it, so a captured one the agent missed cannot be replayed.
   */
  raiseFloor(seq: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
  }

  /** Checks one MQTT payload; an accepted message raises the replay floor to its `seq`. */
  check(payload: Uint8Array | string): ControlVerdict {
    const verdict = this.#verdict(payload);
    if (verdict.ok) {
      this.#lastSeq = verdict.seq;
      this.#counters.accepted++;
    } else {
      this.#counters.rejected[verdict.reason]++;
    }
    return verdict;
  }

  #verdict(payload: Uint8Array | string): ControlVerdict {
    let json: unknown;
    try {
      json = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload));
    } catch {
      return { ok: false, reason: "not JSON" };
    }
    const parsed = ControlMessageSchema.safeParse(json);
    if (!parsed.success) return { ok: false, reason: "unexpected body" };
    const { id, send, seq, mac } = parsed.data;
    if (id !== this.#id) return { ok: false, reason: "other dataflow" };
    if (!this.#key) return { ok: false, reason: "no key" };
    if (seq === undefined || mac === undefined) return { ok: false, reason: "unsigned" };
    const given = Buffer.from(mac, "base64url");
    const expected = macOf(this.#key, { id, send, seq });
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "forged" };
    if (seq <= this.#lastSeq) return { ok: false, reason: "replayed" };
    return { ok: true, send, seq };
  }
}
