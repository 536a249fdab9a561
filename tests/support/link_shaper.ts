// A link of a given rate, for the user-space relays of the network-namespace tests: a token
// bucket in front of a drop-tail queue limited in bytes, like the bottleneck of a cellular uplink
// (a radio scheduler's share, a modem's buffer). Pure: the caller passes the time (ms, monotonic)
// and sends what `release()` hands back; `nextReleaseAt()` says when to call it again.
//
//   offer() ─► [ queue ≤ queueLimitBytes ] ─► bucket (rate, depth = burstMs of rate) ─► release()
//                  └─ full: dropped (counted), unless the datagram is not droppable

/** Options of {@link LinkShaper}. */
export interface LinkShaperOptions {
  /** Link rate in bit/s. */
  rateBps: number;
  /** Bucket depth in ms of the rate (the burst a sender may get through at once); default 15. */
  burstMs?: number;
  /** Bytes the queue holds before it drops (drop-tail); default 65536. */
  queueLimitBytes?: number;
}

/** What passed since the previous {@link LinkShaper.takeWindow} (or since the start). */
export interface ShaperWindow {
  inBytes: number;
  outBytes: number;
  drops: number;
  droppedBytes: number;
  /** Longest time a released datagram waited in the queue, ms. */
  maxDelayMs: number;
}

interface Queued<T> {
  item: T;
  bytes: number;
  at: number;
}

const empty = (): ShaperWindow => ({ inBytes: 0, outBytes: 0, drops: 0, droppedBytes: 0, maxDelayMs: 0 });

/** Token bucket + drop-tail byte queue. */
export class LinkShaper<T> {
  #rate = 0;
  #burstMs: number;
  #limit: number;
  #tokens = 0;
  #last: number;
  #queue: Queued<T>[] = [];
  #head = 0;
  #queued = 0;
  #window = empty();
  #total = empty();

  constructor(options: LinkShaperOptions, now: number) {
    this.#burstMs = options.burstMs ?? 15;
    this.#limit = options.queueLimitBytes ?? 65_536;
    this.#last = now;
    this.setRate(options.rateBps, now);
    this.#tokens = this.#depth();
  }

  /** The link rate in bit/s. */
  get rateBps(): number {
    return this.#rate;
  }

  /** Bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Everything since the start. */
  get totals(): Readonly<ShaperWindow> {
    return this.#total;
  }

  /** Changes the rate from `now` on (tokens earned so far at the old rate are kept, up to the new depth). */
  setRate(rateBps: number, now: number): void {
    if (!(rateBps > 0)) throw new RangeError(`link rate "${rateBps}" must be a positive number of bit/s`);
    this.#refill(now);
    this.#rate = rateBps;
    this.#tokens = Math.min(this.#tokens, this.#depth());
  }

  /** Queues a datagram; false when the queue was full and it was dropped (never when `droppable` is false). */
  offer(item: T, bytes: number, now: number, droppable = true): boolean {
    this.#count("inBytes", bytes);
    if (droppable && this.#queued + bytes > this.#limit) {
      this.#count("drops", 1);
      this.#count("droppedBytes", bytes);
      return false;
    }
    this.#queue.push({ item, bytes, at: now });
    this.#queued += bytes;
    return true;
  }

  /** The datagrams whose turn has come by `now`, in order. */
  release(now: number): T[] {
    this.#refill(now);
    const out: T[] = [];
    for (let head = this.#peek(); head && this.#mayGo(head); head = this.#peek()) {
      this.#head++;
      this.#tokens -= head.bytes;
      this.#queued -= head.bytes;
      this.#count("outBytes", head.bytes);
      const delay = now - head.at;
      this.#window.maxDelayMs = Math.max(this.#window.maxDelayMs, delay);
      this.#total.maxDelayMs = Math.max(this.#total.maxDelayMs, delay);
      out.push(head.item);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** When the head of the queue may go (≥ `now`), or undefined when the queue is empty. */
  nextReleaseAt(now: number): number | undefined {
    const head = this.#peek();
    if (!head) return undefined;
    this.#refill(now);
    const need = Math.min(head.bytes, this.#depth()) - this.#tokens;
    return need <= 0 ? now : now + (need * 8000) / this.#rate;
  }

  /** The counts since the previous call, and starts a new window. */
  takeWindow(): ShaperWindow {
    const window = this.#window;
    this.#window = empty();
    return window;
  }

  #depth(): number {
    return (this.#rate * this.#burstMs) / 8000;
  }

  // A datagram larger than the bucket goes once the bucket is full (tokens then go negative),
  // so any size gets through and the long-run rate stays exact.
  #mayGo(q: Queued<T>): boolean {
    return this.#tokens >= Math.min(q.bytes, this.#depth());
  }

  #peek(): Queued<T> | undefined {
    return this.#queue[this.#head];
  }

  #refill(now: number): void {
    if (now > this.#last) this.#tokens = Math.min(this.#depth(), this.#tokens + ((now - this.#last) * this.#rate) / 8000);
    this.#last = Math.max(this.#last, now);
  }

  #count(key: Exclude<keyof ShaperWindow, "maxDelayMs">, n: number): void {
    this.#window[key] += n;
    this.#total[key] += n;
  }
}
