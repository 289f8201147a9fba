/**
 * `tzstack fetch`: bring the stack up on a device and fetch one URL with an
 * HTTP/1.1 client running over tzstack's TCP (Node's `http` client fed a
 * tzstack socket). The body goes to --output (or stdout); progress and a
 * summary go to stderr. Exit 0 on a 2xx status, 1 otherwise.
 */
import { createWriteStream, writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { httpFetch, parseHttpUrl } from '../app/fetch.js';
import { nonEmpty, oneLine, type Command, type ParsedArgs } from './args.js';
import { bringUp, stackFlagValues, STACK_FLAGS } from './bringup.js';
import { parseIpv6 } from '../ip/addr6.js';
import { ipv6Of } from '../ipv6-attach.js';

/**
 * For an IPv6 target, wait (up to 5 s) until duplicate address detection
 * has made a source address usable: a connect before that has none.
 */
async function sourceReady(stack: import('../stack.js').Stack, host: string): Promise<void> {
  if (!host.includes(':')) return;
  const a6 = ipv6Of(stack);
  if (a6 === undefined) return;
  const dst = parseIpv6(host);
  for (let i = 0; i < 100 && a6.ip6.selectSource(dst) === undefined; i++) await new Promise((r) => setTimeout(r, 50));
}

function human(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

async function run(args: ParsedArgs): Promise<number> {
  const url = args.positionals[0];
  try {
    parseHttpUrl(url);
  } catch (e) {
    process.stderr.write(`tzstack fetch: ${oneLine(e)}\n`);
    return 2;
  }
  const o = stackFlagValues(args.values);
  const outPath = args.values.output as string | undefined;
  const quiet = args.values.quiet === true;
  const wantSha = args.values.sha256 === true;
  const statsPath = args.values.stats as string | undefined;
  let b;
  try {
    b = await bringUp(o);
  } catch (e) {
    process.stderr.write(`tzstack fetch: ${oneLine(e)}\n`);
    return 1;
  }
  let out: Writable = process.stdout;
  if (outPath !== undefined && outPath !== '-') out = createWriteStream(outPath);
  const t0 = performance.now();
  let lastReport = t0;
  const log = (s: string): void => { if (!quiet) process.stderr.write(s); };
  b.stack.start();
  log(`tzstack fetch: ${b.describe()}\ntzstack fetch: GET ${url}\n`);
  await sourceReady(b.stack, parseHttpUrl(url).host);
  let code = 1;
  try {
    const r = await httpFetch(b.stack, url, {
      output: out,
      sha256: wantSha,
      onProgress: (got, total) => {
        const now = performance.now();
        if (now - lastReport < 500) return;
        lastReport = now;
        log(`\r  ${human(got)}${total !== undefined ? ` of ${human(total)} (${((100 * got) / Math.max(1, total)).toFixed(0)}%)` : ''}   `);
      },
    });
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0 ? ((r.bytes * 8) / secs / 1e6).toFixed(1) : '?';
    log(`${lastReport !== t0 ? '\n' : ''}tzstack fetch: ${r.status} ${r.statusMessage}, ${r.bytes} bytes in ${secs.toFixed(2)} s (${rate} Mbit/s)`
      + `${r.sha256 ? `, sha256 ${r.sha256}` : ''}${outPath && outPath !== '-' ? `, saved to ${outPath}` : ''}\n`);
    if (wantSha && quiet && r.sha256) process.stderr.write(`${r.sha256}\n`);
    code = r.status >= 200 && r.status < 300 ? 0 : 1;
  } catch (e) {
    log('\n');
    process.stderr.write(`tzstack fetch: ${oneLine(e)}\n`);
    if (out !== process.stdout) out.end();
    code = 1;
  }
  // Let the last ACK / FIN exchange reach the wire before the stack goes away.
  await new Promise((r) => setTimeout(r, 50));
  const report = await b.shutdown();
  if (statsPath !== undefined) {
    try {
      writeFileSync(statsPath, JSON.stringify(report, null, 2) + '\n');
    } catch (e) {
      process.stderr.write(`tzstack fetch: writing --stats: ${oneLine(e)}\n`);
      code = 1;
    }
  }
  if (report.pool.inUseAtExit !== 0 && !quiet) {
    process.stderr.write(`tzstack fetch: note: ${report.pool.inUseAtExit} mbufs still in use at exit\n`);
  }
  return code;
}

/** The `fetch` subcommand. */
export const command: Command = {
  spec: {
    name: 'fetch',
    summary: 'Fetch one http:// URL with an HTTP/1.1 client running over tzstack; body to --output or stdout.',
    description: 'Brings the stack up on the device (as serve does), opens a TCP connection from tzstack to the host '
      + '(an IPv4 address or a bracketed IPv6 one with --ip6: there is no DNS) and runs a GET with Node\'s own http client over it. Progress and a summary '
      + '(status, bytes, time, rate) go to stderr. Exit status: 0 for a 2xx response, 1 for any other status or a failure, '
      + '2 for a bad command line.',
    flags: [
      ...STACK_FLAGS,
      { name: 'output', short: 'o', value: '<file>', parse: nonEmpty, help: 'Write the body to this file instead of stdout (- for stdout). -o is short for it.' },
      { name: 'sha256', help: 'Print the SHA-256 of the body in the summary.' },
      { name: 'quiet', help: 'No progress or summary (errors are still printed).' },
      { name: 'stats', value: '<file>', help: 'Write all counters (stack, TCP with loss recovery, device, impairment) as JSON to this file on exit.' },
    ],
    positionals: [{ name: 'url', help: 'http://a.b.c.d[:port]/path or http://[v6addr][:port]/path', required: true }],
    examples: [
      'tzstack fetch --dev net_af_packet0,iface=veth-near --ip 10.74.0.1/24 http://10.74.0.2:8000/file -o /tmp/file',
      'tzstack fetch --dev net_af_packet0,iface=veth-near --ip 10.74.0.1/24 --ip6 fd00:74::1/64 http://[fd00:74::2]:8000/file -o /tmp/file',
      'tzstack fetch --dev net_tap0,iface=tz0 --ip 10.74.1.1/24 --impair loss=0.02,seed=3 --sha256 http://10.74.1.2/bytes/1000000 -o /dev/null',
    ],
  },
  run,
};
