/**
 * The events of a {@link WhipPublisher}: a tiny typed emitter (web and `node:` free, so it
 * runs the same under Deno and Bun).
 */

/** Event name → payload. */
export interface PublisherEventMap {
  /** ICE and DTLS are up; packets flow. */
  connected: Record<string, never>;
  /** The session never connected (or the peer refused it): start a new WHIP session. */
  failed: { reason: string };
  /** A connected session went away (ICE failed, no RTCP from the peer): start a new one. */
  disconnected: { reason: string };
  /** The receiver asked for a keyframe (PLI, RFC 4585 §6.3.1, or FIR, RFC 5104 §4.3.1). */
  pli: { kind: "pli" | "fir" };
  /** `close()` finished. */
  closed: Record<string, never>;
}

type Listener<K extends keyof PublisherEventMap> = (event: PublisherEventMap[K]) => void;

/** Base class holding listeners; a throwing listener does not stop the others. */
export class PublisherEvents {
  private readonly listeners = new Map<keyof PublisherEventMap, Set<Listener<never>>>();
  /** Listener errors, each also passed to {@link reportListenerError}. */
  listenerErrors = 0;

  /** Where listener errors go (the publisher logs them); not rethrown, which would kill the agent. */
  protected reportListenerError(_event: string, _error: unknown): void {}

  /** Calls `listener` on every `name` event; returns a function that removes it. */
  on<K extends keyof PublisherEventMap>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Resolves with the next `name` event. */
  once<K extends keyof PublisherEventMap>(name: K): Promise<PublisherEventMap[K]> {
    return new Promise((resolve) => {
      const off = this.on(name, (event) => {
        off();
        resolve(event);
      });
    });
  }

  protected emit<K extends keyof PublisherEventMap>(name: K, event: PublisherEventMap[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        (listener as Listener<K>)(event);
      } catch (error) {
        this.listenerErrors++;
        this.reportListenerError(String(name), error);
      }
    }
  }
}
