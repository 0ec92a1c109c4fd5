/**
 * @module
 * Prometheus text exposition (format 0.0.4) without a client library: the gateway's counters and
 * gauges are few and already held in its own statistics.
 */

/** One metric family. */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

/**
 * Renders metric families in the Prometheus text format.
 * @example renderPrometheus([{ name: 'bifrost_polls_total', help: 'Polls', type: 'counter', samples: [{ value: 3 }] }])
 */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  let out = '';
  for (const f of families) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      const labels =
        s.labels && Object.keys(s.labels).length > 0
          ? `{${Object.entries(s.labels)
              .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
              .join(',')}}`
          : '';
      const v = Number.isFinite(s.value) ? String(s.value) : s.value > 0 ? '+Inf' : s.value < 0 ? '-Inf' : 'NaN';
      out += `${f.name}${labels} ${v}\n`;
    }
  }
  return out;
}
