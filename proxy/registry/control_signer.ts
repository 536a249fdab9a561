/**
 * Signs control messages (`{id, send}` on `control.{id}`) so that only the proxy's word counts
 * (issue #12, finding 4): HMAC-SHA256 with the dataflow's own key over `controlMacInput()`, and
 * a `seq` that never goes back, so an agent can refuse a replayed old message.
 *
 * `seq` is derived from the clock, not stored: microseconds since the epoch, or one more than
 * the last `seq` this process gave when the clock has not moved on (many messages in one
 * microsecond, or the clock stepped back). A restarted proxy (or another replica sharing the
 * store) therefore continues above every `seq` it gave before, as long as the host clocks do
 * not step back across the restart; if one does, agents ignore control messages (counted as
 * replayed) until the clock is past the old ones, and keep-alive answers still carry `send`.
 */
import { createHmac } from "node:crypto";
import { type ControlMessage, controlMacInput } from "../../shared/mod.ts";

/** The base64url HMAC-SHA256 of `message` under `key` (base64url). */
export function controlMac(key: string, message: { id: number; send: boolean; seq: number }): string {
  return createHmac("sha256", Buffer.from(key, "base64url")).update(controlMacInput(message)).digest("base64url");
}

/** Makes signed control messages; one per process, so `seq` grows across every dataflow. */
export class ControlSigner {
  /** The process's signer: the announcer signs with it and the registry takes replay floors from it. */
  static readonly shared: ControlSigner = new ControlSigner();
  #last = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  /** The next `seq`: microseconds since the epoch, strictly above the previous one. */
  nextSeq(): number {
    this.#last = Math.max(Math.floor(this.nowMs() * 1000), this.#last + 1);
    return this.#last;
  }

  /**
   * `{id, send, seq, mac}`; without a key (a dataflow registered before keys existed, whose
   * agent cannot check one) `{id, send, seq}` unsigned, as older agents expect.
   */
  sign(id: number, send: boolean, key: string | null | undefined): ControlMessage {
    const seq = this.nextSeq();
    return key ? { id, send, seq, mac: controlMac(key, { id, send, seq }) } : { id, send, seq };
  }
}
