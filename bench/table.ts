/** The suite's table as text. */
import type { Row, SuiteReport } from './suite.js';
import type { Projection } from './segrows.js';

/** The projection section: its inputs, its rows and what it assumes. */
export function formatProjection(p: Projection): string[] {
  const i = p.inputs;
  const n = (v: number): string => v.toFixed(0);
  const head = ['MTU', 'offloads', 'frames/s', 'segs/unit', 'sender cores', 'receiver cores'];
  const cells = p.rows.map((x) => [String(x.mtu), x.offloads, `${(x.pps / 1e6).toFixed(3)}M`, String(x.segsPerUnit), x.senderCores.toFixed(2), x.receiverCores.toFixed(2)]);
  const w = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k].length)));
  const line = (c: string[]): string => c.map((s, k) => (k >= 2 ? s.padStart(w[k]) : s.padEnd(w[k]))).join('  ');
  return [
    `projection — ${p.note}`,
    `  measured inputs (CPU ns per data segment): receive ${n(i.receiveNsGro)} with GRO, ${n(i.receiveNsNoGro)} without; `
      + `send ${n(i.sendNsGro)} at ${i.acksPerSegmentGro.toFixed(2)} ACKs/segment, ${n(i.sendNsNoGro)} at ${i.acksPerSegmentNoGro.toFixed(2)}; `
      + `derived per send ${n(i.perSendNs)}, per ACK ${n(i.perAckNs)}`,
    `  cores for 100 Gb/s line rate (100GbE):`,
    '  ' + line(head),
    '  ' + line(w.map((k) => '-'.repeat(k))),
    ...cells.map((c) => '  ' + line(c)),
    ...p.assumptions.map((a) => `  assumes: ${a}`),
  ];
}

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
  if (r.projection) out.push('', ...formatProjection(r.projection));
  if (r.errors.length) out.push('', ...r.errors.map((e) => `note: ${e}`));
  return out.join('\n') + '\n';
}
