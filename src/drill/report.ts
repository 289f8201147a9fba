/**
 * Per-script lines and the summary of a drill run.
 *
 * ```
 * pass     test/packetdrill/handshake-passive.pkt
 * FAIL     test/packetdrill/x.pkt:14: outbound packet field tcp_seq: expected 1 vs actual 1001
 *            script: 0.2 > P. 1:1001(1000) ack 1
 *            actual: 0.2 > P. 1001:2001(1000) ack 1 win 502
 * skipped  test/packetdrill/y.pkt: unsupported (python code block, line 9)
 * 3 passed, 1 failed, 1 skipped
 * ```
 */
import type { DrillResult } from './interpreter.js';

/** One script's outcome with its file name. */
export interface ScriptReport {
  file: string;
  result: DrillResult;
}

/** The text for one script (several lines for a failure). */
export function formatReport(r: ScriptReport, verbose = false): string {
  const res = r.result;
  const lines: string[] = [];
  switch (res.status) {
    case 'pass':
      lines.push(`pass     ${r.file}`);
      break;
    case 'fail': {
      const [first, ...rest] = (res.message ?? 'failed').split('\n');
      lines.push(`FAIL     ${r.file}:${res.line ?? 0}: ${first}`);
      for (const l of rest) lines.push(`         ${l}`);
      break;
    }
    case 'skipped':
      lines.push(`skipped  ${r.file}: ${(res.message ?? '').split('\n').join('\n         ')}`);
      break;
  }
  const notes = verbose ? res.notes : res.notes.filter((n) => n.startsWith('marked xfail'));
  for (const n of notes) lines.push(`         note: ${n}`);
  return lines.join('\n');
}

/** Counts of each outcome. */
export interface Summary { passed: number; failed: number; skipped: number }

export function summarize(reports: ScriptReport[]): Summary {
  const s: Summary = { passed: 0, failed: 0, skipped: 0 };
  for (const r of reports) {
    if (r.result.status === 'pass') s.passed++;
    else if (r.result.status === 'fail') s.failed++;
    else s.skipped++;
  }
  return s;
}

/** `N passed, N failed, N skipped`. */
export function summaryLine(s: Summary): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

/**
 * The kind of a failure or skip, for grouping: the first mismatch with the
 * script's numbers, line numbers and packet dumps taken out, e.g.
 * `outbound packet field flags`, `getsockopt(SO_RCVBUF) value`,
 * `unsupported: system call sendto()`.
 */
export function outcomeKind(r: DrillResult): string {
  const first = (r.message ?? '').split('\n')[0];
  if (r.status === 'skipped') {
    const m = /^unsupported \((.*), line \d+\)$/.exec(first);
    let what = m ? m[1] : first;
    // Shell commands and python: group by the command word and setting, not the value.
    what = what.replace(/(`[^`=\s]+(?:\s+-[a-z]+)*\s+[^`=\s]+)[^`]*`/, '$1`');
    what = what.replace(/^(python statement `[^`(=\s]{0,40}).*$/, '$1`');
    return `skip: ${what.replace(/expected failure \((.*?)\):.*/, 'xfail: $1')}`;
  }
  let k = first;
  k = k.replace(/: expected .*$/, '');
  k = k.replace(/ returned .* but the script expected .*$/, ' returned another value');
  k = k.replace(/ failed with (\S+) but .*$/, ' failed with $1');
  k = k.replace(/^timing error: .*?(outbound packet|blocking \S+|\S+\(\)|event).*$/, 'timing error: $1');
  k = k.replace(/^expected outbound packet at .*$/, 'expected outbound packet, none sent');
  k = k.replace(/^blocking (\S+) did not return.*$/, 'blocking $1 did not return');
  k = k.replace(/^tcp_info assertion failed: [^(]*?(tcpi_\w+).*$/, 'tcp_info assertion failed: $1');
  k = k.replace(/^unexpected outbound packet after the last event.*$/, 'unexpected outbound packet after the last event');
  k = k.replace(/^stack threw: (\S+).*$/, 'stack threw: $1');
  k = k.replace(/\d+/g, 'N');
  return `fail: ${k}`;
}

/** Failures and skips grouped by {@link outcomeKind}, biggest group first. */
export function groupOutcomes(reports: ScriptReport[]): Array<{ kind: string; count: number; files: string[] }> {
  const groups = new Map<string, string[]>();
  for (const r of reports) {
    if (r.result.status === 'pass') continue;
    const k = outcomeKind(r.result);
    let g = groups.get(k);
    if (!g) { g = []; groups.set(k, g); }
    g.push(r.file);
  }
  return [...groups.entries()].map(([kind, files]) => ({ kind, count: files.length, files }))
    .sort((a, b) => b.count - a.count || (a.kind < b.kind ? -1 : 1));
}

/**
 * Skips split by why: features tzstack lacks by design (the skip reason says
 * "by design": SO_ZEROCOPY, SO_TIMESTAMPING, TCP-MD5, TCP over UDP), TCP
 * Fast Open (not yet), and everything else.
 */
export function skipBreakdown(reports: ScriptReport[]): { byDesign: number; fastOpen: number; other: number } {
  const out = { byDesign: 0, fastOpen: 0, other: 0 };
  for (const r of reports) {
    if (r.result.status !== 'skipped') continue;
    const m = r.result.message ?? '';
    if (/by design/.test(m)) out.byDesign++;
    else if (/TCP Fast Open/.test(m)) out.fastOpen++;
    else out.other++;
  }
  return out;
}

/** The `--summary` text: one line per group, with up to `examples` file names each. */
export function formatGroups(reports: ScriptReport[], examples = 2): string {
  const lines: string[] = [];
  for (const g of groupOutcomes(reports)) {
    const ex = g.files.slice(0, examples).join(', ');
    lines.push(`${String(g.count).padStart(5)}  ${g.kind}${ex ? `  (e.g. ${ex})` : ''}`);
  }
  return lines.join('\n');
}
