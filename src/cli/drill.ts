/**
 * `tzstack drill <script.pkt|dir ...>`: run packetdrill scripts against
 * tzstack's TCP on a virtual clock (no DPDK, no root) and report per script
 * pass / FAIL / skipped, then `N passed, N failed, N skipped`. Exit 1 when
 * any script failed.
 */
import type { Command, CommandSpec, ParsedArgs, PositionalSpec } from './args.js';
import { runFiles } from '../drill/runner.js';
import { formatGroups, formatReport, groupOutcomes, skipBreakdown, summarize, summaryLine } from '../drill/report.js';

function keyValue(text: string): [string, string] {
  const i = text.indexOf('=');
  if (i <= 0) throw new Error(`expected key=value, got '${text}'`);
  return [text.slice(0, i), text.slice(i + 1)];
}

function nonNegative(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number, got '${text}'`);
  return n;
}

async function run(args: ParsedArgs): Promise<number> {
  const v = args.values;
  const set: Array<[string, string]> = [...((v.set as Array<[string, string]> | undefined) ?? [])];
  if (v['tolerance-usecs'] !== undefined) set.push(['tolerance_usecs', String(v['tolerance-usecs'])]);
  if (v['tolerance-percent'] !== undefined) set.push(['tolerance_percent', String(v['tolerance-percent'])]);
  if (v.ip_version !== undefined) set.push(['ip_version', String(v.ip_version)]);
  const verbose = v.verbose === true;
  const reports = runFiles(args.positionals, {
    profile: v.profile as string | undefined,
    defaults: v.defaults as string | undefined,
    set,
    log: verbose ? (l) => process.stdout.write(`  ${l}\n`) : undefined,
  });
  if (v.json === true) {
    const out: Record<string, unknown> = { scripts: reports, summary: summarize(reports) };
    if (v.summary === true) { out.groups = groupOutcomes(reports); out.skips = skipBreakdown(reports); }
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else if (v.summary === true) {
    // Only the groups: suites have hundreds of scripts.
    const g = formatGroups(reports);
    if (g) process.stdout.write(g + '\n');
    const b = skipBreakdown(reports);
    process.stdout.write(`skipped: ${b.byDesign} for features tzstack lacks by design, ${b.fastOpen} for TCP Fast Open, ${b.other} for other constructs\n`);
    process.stdout.write(summaryLine(summarize(reports)) + '\n');
  } else {
    for (const r of reports) process.stdout.write(formatReport(r, verbose) + '\n');
    process.stdout.write(summaryLine(summarize(reports)) + '\n');
  }
  return summarize(reports).failed > 0 ? 1 : 0;
}

// The script list is variadic: the last positional takes every remaining word.
const scripts: PositionalSpec = { name: 'script.pkt', required: true, variadic: true,
  help: 'Scripts to run; a directory means every .pkt file in it.' };

const spec: CommandSpec = {
  name: 'drill',
  summary: 'Run packetdrill scripts against tzstack TCP on a virtual clock and report pass/fail/skipped per script.',
  description: 'Each script runs on a fresh TCP layer at 192.168.0.1 talking to 192.0.2.1 (configurable), with '
    + 'injected (<) and expected (>) segments at layer 3 and socket calls mapped onto the TCP API. Stack '
    + 'assumptions (initial cwnd, RTOs, delayed ACK, wscale, MSS, TSO, timing tolerance) come from a profile: '
    + 'built-in linux or freebsd, overridden by a defaults file (--defaults, or defaults.conf next to the '
    + 'script), a `// drill: profile=NAME` or `// drill: key=value` comment in the script, and --set. '
    + '--ip_version ipv6 runs scripts over the stack\'s IPv6 layer, ipv4-mapped-ipv6 with AF_INET6 sockets over IPv4. '
    + 'What the interpreter cannot run (python beyond packetdrill\'s subset, other shell commands, UDP, outbound ICMP) '
    + 'is reported as skipped, never as passed.',
  flags: [
    { name: 'profile', value: '<name>', help: 'Stack profile: linux (IW10, 40 ms delayed ACK, 200 ms min RTO, 1 s initial RTO) or freebsd, or one from the defaults file.' },
    { name: 'defaults', value: '<file>', help: 'Defaults file with [profile] sections of key = value lines.' },
    { name: 'set', value: '<key=value>', repeatable: true, parse: keyValue, help: 'Override one profile setting, e.g. --set delayed_ack_ms=200.' },
    { name: 'tolerance-usecs', value: '<us>', parse: nonNegative, help: 'Timing tolerance floor (packetdrill --tolerance_usecs; default 4000).' },
    { name: 'tolerance-percent', value: '<pct>', parse: nonNegative, help: 'Timing tolerance as a percentage of the gap since the previous event (default 12.5).' },
    { name: 'ip_version', value: '<ipv4|ipv4-mapped-ipv6|ipv6>', help: 'Address family of the run, overriding the scripts\' own --ip_version (as packetdrill\'s command line does).' },
    { name: 'json', help: 'Print the results as JSON.' },
    { name: 'summary', help: 'Print failures and skips grouped by their first mismatch (or unsupported construct), biggest group first, instead of a line per script.' },
    { name: 'verbose', help: 'Print every injected and sent packet and call.' },
  ],
  positionals: [scripts],
  examples: [
    'tzstack drill test/packetdrill/',
    'tzstack drill --profile linux --set delayed_ack_ms=40 my-test.pkt',
  ],
};

/** The `drill` subcommand. */
export const command: Command = { spec, run };
