/**
 * Which UDP forward ports are taken, and which one to hand out next (pure; the store
 * persists the allocations and the cursor, and tells the pool only after a commit).
 */

/** Inclusive range of UDP ports handed to dataflows for the legacy RTP forward. */
export interface PortRange {
  first: number;
  last: number;
}

/** Thrown when every port of the range is taken. */
export class PortsExhaustedError extends Error {
  constructor(range: PortRange) {
    super(`every UDP port of "${range.first}-${range.last}" is allocated`);
    this.name = "PortsExhaustedError";
  }
}

/** The allocated ports of one range, handed out round robin. */
export class PortPool {
  readonly #used = new Set<number>();
  #cursor: number;

  constructor(readonly range: PortRange, used: Iterable<number>, cursor?: number) {
    for (const port of used) this.#used.add(port);
    this.#cursor = cursor ?? range.first;
  }

  /**
   * The next free port, without taking it (the caller takes it once its row is committed).
   * Round robin from the last allocation: a port just released is reused last, so a legacy
   * pipeline still listening on it does not get another sensor's video at once.
   */
  next(): number {
    const { first, last } = this.range;
    const size = last - first + 1;
    for (let i = 0; i < size; i++) {
      const candidate = first + ((this.#cursor - first + i) % size + size) % size;
      if (!this.#used.has(candidate)) return candidate;
    }
    throw new PortsExhaustedError(this.range);
  }

  /** Marks `port` taken (after its row was committed). */
  take(port: number): void {
    this.#used.add(port);
    this.#cursor = port + 1;
  }

  /** Marks `port` free (after its row was deleted). */
  release(port: number): void {
    this.#used.delete(port);
  }

  /** Taken ports, ascending. */
  list(): number[] {
    return [...this.#used].sort((a, b) => a - b);
  }
}
