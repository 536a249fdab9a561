/**
 * A tiny Prometheus registry (text exposition format 0.0.4): counters, gauges and
 * histograms with labels. Every part of the proxy registers its series in the one
 * `Metrics` instance that `GET /metrics` renders. Hot paths should keep the child
 * returned by `.with(labels)` so that no label key is built per event.
 */

/** Label values by label name. */
export type Labels = Record<string, string | number>;

/** A counter or gauge bound to one label set (cheap to call on hot paths). */
export interface Child {
  inc(value?: number): void;
  set(value: number): void;
  get(): number;
}

/** A histogram bound to one label set. */
export interface HistogramChild {
  observe(value: number): void;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(",")}}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: string) {
    if (!NAME.test(name)) throw new TypeError(`metric name "${name}" is not a Prometheus name`);
  }
  abstract lines(): string[];
  render(): string {
    const head = `# HELP ${this.name} ${this.help.replace(/\n/g, " ")}\n# TYPE ${this.name} ${this.type}\n`;
    const body = this.lines();
    return body.length === 0 ? head : `${head}${body.join("\n")}\n`;
  }
}

/** A value per label set; counters only go up, gauges may be set. */
export class Series extends Metric {
  readonly #values = new Map<string, { labels: string; value: number }>();
  #collect?: (series: Series) => void;

  constructor(name: string, help: string, type: "counter" | "gauge", collect?: (series: Series) => void) {
    super(name, help, type);
    this.#collect = collect;
  }

  /** The child for `labels`, created at 0 on first use. */
  with(labels?: Labels): Child {
    const text = labelText(labels);
    let slot = this.#values.get(text);
    if (!slot) {
      slot = { labels: text, value: 0 };
      this.#values.set(text, slot);
    }
    const s = slot;
    const counter = this.type === "counter";
    return {
      inc(value = 1) {
        if (counter && value < 0) throw new RangeError(`counter increment "${value}" must not be negative`);
        s.value += value;
      },
      set(value: number) {
        s.value = value;
      },
      get: () => s.value,
    };
  }

  /** Adds `value` (default 1) to the series with `labels`. */
  inc(labels?: Labels, value = 1): void {
    this.with(labels).inc(value);
  }

  /** Sets the series with `labels` (gauges). */
  set(labels: Labels | undefined, value: number): void {
    this.with(labels).set(value);
  }

  /** Forgets every series (collect callbacks rebuild them from live objects). */
  clear(): void {
    this.#values.clear();
  }

  /** Forgets the series with `labels` (e.g. a dataflow that ended). */
  remove(labels?: Labels): void {
    this.#values.delete(labelText(labels));
  }

  lines(): string[] {
    this.#collect?.(this);
    return [...this.#values.values()].map((s) => `${this.name}${s.labels} ${formatNumber(s.value)}`);
  }
}

/** Default buckets in seconds, from 0.5 ms to 10 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface HistogramSlot {
  labels: Labels | undefined;
  counts: number[];
  sum: number;
  count: number;
}

/** Cumulative-bucket histogram. */
export class Histogram extends Metric {
  readonly #slots = new Map<string, HistogramSlot>();

  constructor(name: string, help: string, readonly buckets: number[] = LATENCY_BUCKETS) {
    super(name, help, "histogram");
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  /** The child for `labels`. */
  with(labels?: Labels): HistogramChild {
    const key = labelText(labels);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#slots.set(key, slot);
    }
    const s = slot;
    const buckets = this.buckets;
    return {
      observe(value: number) {
        for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]!) s.counts[i]!++;
        s.sum += value;
        s.count++;
      },
    };
  }

  /** Records one observation with `labels`. */
  observe(labels: Labels | undefined, value: number): void {
    this.with(labels).observe(value);
  }

  lines(): string[] {
    const out: string[] = [];
    for (const slot of this.#slots.values()) {
      const base = slot.labels ?? {};
      this.buckets.forEach((le, i) => {
        out.push(`${this.name}_bucket${labelText({ ...base, le: formatNumber(le) })} ${slot.counts[i]}`);
      });
      out.push(`${this.name}_bucket${labelText({ ...base, le: "+Inf" })} ${slot.count}`);
      out.push(`${this.name}_sum${labelText(slot.labels)} ${slot.sum}`);
      out.push(`${this.name}_count${labelText(slot.labels)} ${slot.count}`);
    }
    return out;
  }
}

/** The registry that `GET /metrics` renders. Registering a name twice returns the first metric. */
export class Metrics {
  readonly #metrics = new Map<string, Metric>();

  #add<T extends Metric>(metric: T): T {
    const existing = this.#metrics.get(metric.name);
    if (existing) {
      if (existing.type !== metric.type) {
        throw new TypeError(`metric "${metric.name}" is already registered as a ${existing.type}`);
      }
      return existing as T;
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** A counter; `collect` may refresh its values right before each render. */
  counter(name: string, help: string, collect?: (series: Series) => void): Series {
    return this.#add(new Series(name, help, "counter", collect));
  }

  /** A gauge; `collect` may refresh its values right before each render. */
  gauge(name: string, help: string, collect?: (series: Series) => void): Series {
    return this.#add(new Series(name, help, "gauge", collect));
  }

  /** A histogram with `buckets` (seconds by default). */
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }

  /** Prometheus text exposition of every metric. */
  render(): string {
    return [...this.#metrics.values()].map((m) => m.render()).join("");
  }
}

/** Content type of {@link Metrics.render}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
