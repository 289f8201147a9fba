/** The suite's table as text. */
import type { Row, SuiteReport } from './suite.js';

function fmt(v: number | null, unit: string): string {
  if (v === null) return '-';
  if (unit === 'req/s') return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Render the rows as an aligned table plus the context lines. */
export function formatTable(r: SuiteReport): string {
  const head = ['workload', 'config', 'metric', 'tzstack', 'peer', 'peer value', 'ratio', 'tzstack via'];
  const cells = r.rows.map((x: Row) => [
    x.workload, x.config, `${x.metric} (${x.unit})`, fmt(x.tzstack, x.unit), x.peer, fmt(x.peerValue, x.unit),
    x.ratio === null ? '-' : `${x.ratio.toFixed(2)}x${x.higherIsBetter ? '' : ' (lower=better)'}`,
    x.via + (x.note ? ` [${x.note}]` : ''),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((s, i) => (i >= 3 && i !== 4 && i !== 7 ? s.padStart(w[i]) : s.padEnd(w[i]))).join('  ').trimEnd();
  const out = [
    `tzstack bench — ${r.started} — node ${r.node} — ${r.machine.cpus} CPUs, load ${r.machine.loadavg1Before} → ${r.machine.loadavg1After}${r.quick ? ' — quick' : ''}`,
    `in-process link: ${r.link}`,
    '',
    line(head),
    line(w.map((n) => '-'.repeat(n))),
    ...cells.map(line),
  ];
  if (r.errors.length) out.push('', ...r.errors.map((e) => `note: ${e}`));
  return out.join('\n') + '\n';
}
