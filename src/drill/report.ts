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
