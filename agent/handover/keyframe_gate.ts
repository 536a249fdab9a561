/**
 * The start of a push that joins a running capture (the new MEC's, in a make-before-break
 * handover): nothing reaches the new session before the first packet of a keyframe (SPS or
 * IDR first, `startsKeyframe()`), so the new MEC's first frame decodes alone. Before the
 * session connects the publisher's GOP cache holds from the latest keyframe on; this gate
 * covers the other case, a session that connects before the capture's next keyframe, which
 * would otherwise send the P-frames of a GOP whose keyframe it never had.
 *
 *   capture:  … P P P | SPS PPS IDR P P …
 *   new push:   ╰held╯ ╰─ open from here ─╯
 */
import { startsKeyframe } from "../push/source_splice.ts";

/** Lets RTP packets through from the first packet of a keyframe on. */
export class KeyframeGate {
  #open = false;
  /** Packets held back (dropped) before the first keyframe. */
  dropped = 0;
  /** Called by the owner once the gate opened (set by whoever wants to know). */
  onOpen: (() => void) | undefined;

  /** True once a keyframe has started. */
  get open(): boolean {
    return this.#open;
  }

  /** True when `packet` may be sent; opens at the first packet of a keyframe. */
  admit(packet: Uint8Array): boolean {
    if (!this.#open && packet.length >= 12 && startsKeyframe(packet)) this.#open = true;
    if (!this.#open) this.dropped++;
    return this.#open;
  }
}
