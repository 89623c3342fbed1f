// Prometheus metrics in the text exposition format 0.0.4: counters, gauges and histograms with
// labels, kept in memory and rendered on scrape. Recording is a map look-up and an addition, cheap
// enough for every request.

export const contentType = 'text/plain; version=0.0.4; charset=utf-8';

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A sample value as Prometheus writes it (+Inf, -Inf, NaN spelled out). */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const pairs = names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

abstract class Metric<L extends string> {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {
    if (!metricName.test(name)) throw new Error(`invalid metric name '${name}'`);
    for (const l of labelNames) if (!labelName.test(l) || l === 'le') throw new Error(`invalid label name '${l}'`);
  }
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected key(labels: Partial<Record<L, string>>): { key: string; values: string[] } {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (v === undefined) throw new Error(`metric ${this.name}: label '${n}' missing`);
      return v;
    });
    return { key: values.join('\u0000'), values };
  }
  protected abstract samples(): string[];
  render(): string {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join(
      '\n',
    );
  }
}

class ValueMetric<L extends string> extends Metric<L> {
  readonly type: 'counter' | 'gauge';
  protected values = new Map<string, { labels: string[]; value: number }>();
  constructor(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly L[]) {
    super(name, help, labelNames);
    this.type = type;
  }
  protected change(labels: Partial<Record<L, string>>, apply: (old: number) => number): void {
    const { key, values } = this.key(labels);
    const entry = this.values.get(key);
    if (entry) entry.value = apply(entry.value);
    else this.values.set(key, { labels: values, value: apply(0) });
  }
  protected samples(): string[] {
    return [...this.values.values()].map(
      (e) => `${this.name}${labelText(this.labelNames, e.labels)} ${formatValue(e.value)}`,
    );
  }
}

export class Counter<L extends string = never> extends ValueMetric<L> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super('counter', name, help, labelNames);
  }
  inc(labels: Partial<Record<L, string>> = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.change(labels, (v) => v + by);
  }
}

export class Gauge<L extends string = never> extends ValueMetric<L> {
  constructor(name: string, help: string, labelNames: readonly L[] = []) {
    super('gauge', name, help, labelNames);
  }
  set(labels: Partial<Record<L, string>>, value: number): void {
    this.change(labels, () => value);
  }
  /** Replaces every series at once (a snapshot read from the database: series that vanished go too). */
  replace(series: { labels: Partial<Record<L, string>>; value: number }[]): void {
    this.values.clear();
    for (const s of series) this.set(s.labels, s.value);
  }
}

/** Prometheus' default buckets, in seconds. */
export const defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram<L extends string = never> extends Metric<L> {
  readonly type = 'histogram';
  private series = new Map<string, { labels: string[]; counts: number[]; sum: number; count: number }>();
  readonly buckets: number[];
  constructor(name: string, help: string, labelNames: readonly L[] = [], buckets: number[] = defaultBuckets) {
    super(name, help, labelNames);
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(labels: Partial<Record<L, string>>, value: number): void {
    const { key, values } = this.key(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels: values, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Non-cumulative counts per bucket; render() accumulates them.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  protected samples(): string[] {
    const lines: string[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i]!;
        lines.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, ['le', formatValue(b)])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, ['le', '+Inf'])} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, s.labels)} ${formatValue(s.sum)}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/**
 * A set of metrics rendered together. `collect` callbacks run before each render, to refresh
 * gauges read from elsewhere (pool counters, queue depth, database views); a failing collector
 * is reported by `onCollectError` and the other metrics are still served.
 */
export class Registry {
  private metrics: Metric<string>[] = [];
  private collectors: (() => void | Promise<void>)[] = [];

  register<M extends Metric<string>>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.metrics.push(metric);
    return metric;
  }
  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.register(new Counter(name, help, labelNames));
  }
  gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.register(new Gauge(name, help, labelNames));
  }
  histogram<L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets?: number[],
  ): Histogram<L> {
    return this.register(new Histogram(name, help, labelNames, buckets));
  }
  onCollect(collect: () => void | Promise<void>): void {
    this.collectors.push(collect);
  }

  /** Runs the collectors, then renders every metric (exposition format 0.0.4). */
  async render(onCollectError: (error: unknown) => void = () => {}): Promise<string> {
    const results = await Promise.allSettled(this.collectors.map(async (c) => c()));
    for (const r of results) if (r.status === 'rejected') onCollectError(r.reason);
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
}
