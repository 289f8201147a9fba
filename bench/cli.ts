/**
 * `tzstack bench` / `npm run bench`: the comparative suite on this machine,
 * or (with --role) one side of the line-rate benchmark between two hosts.
 */
import { writeFileSync } from 'node:fs';
import { cidrArg, intIn, ipv4Arg, listOf, nonEmpty, type Command, type ParsedArgs } from '../src/cli/args.js';
import { progress } from './measure.js';
import type { LinkKind } from './link.js';

const WORKLOADS = ['rpc', 'bulk', 'zc', 'pps', 'lwip', 'veth', 'seg'] as const;

const HTTP_TARGETS = ['tzstack-tap', 'tzstack-af_packet', 'node-kernel'] as const;

function numberList(min: number, max: number): (s: string) => number[] {
  return (s) => {
    const items = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
    if (items.length === 0) throw new Error('give at least one number');
    return [...new Set(items.map((x) => intIn(min, max)(x)))].sort((a, b) => a - b);
  };
}
const sizeList = numberList(0, 1 << 26);
const countList = numberList(1, 20000);

function oneOf<T extends string>(choices: readonly T[]): (s: string) => T {
  return (s) => {
    if (!(choices as readonly string[]).includes(s)) throw new Error(`'${s}' is not one of ${choices.join(', ')}`);
    return s as T;
  };
}

/** The command's interface. */
export const command: Command = {
  spec: {
    name: 'bench',
    summary: 'Benchmark tzstack against Node net and iperf3 on this machine, or across two hosts with --role (line-rate mode).',
    description: 'Without --role: RPC ping-pong (64 B and 8 KB, 1 and 64 connections) against Node net over loopback and over a veth pair '
      + 'between two network namespaces, and against lwIP (C) on the same net_ring pair; '
      + 'bulk between two processes over net_memif against iperf3 over loopback and veth, the zero-copy API against the copying one '
      + '(1, 8, 64 KB messages), the cost per frame against a raw forwarding loop through the same shim, '
      + 'the cost per data segment at 1 to 4,096 connections and a line-rate projection from it. '
      + 'Progress goes to stderr, the table to stdout. '
      + 'With --role: one side of the line-rate benchmark, one worker thread per queue of --dev (see bench/README.md); '
      + 'the server sinks bulk data on TCP 5201 and echoes RPCs on 7007 until SIGINT/SIGTERM or --max-seconds; the client '
      + 'runs --workload and prints its figures as one JSON line.',
    flags: [
      { name: 'quick', help: 'Short warm-up and measurement (about 2-3 minutes in all).' },
      { name: 'json', value: '<file>', parse: nonEmpty, help: 'Also write every figure (and the raw results) as JSON to this file.' },
      { name: 'only', value: '<list>', parse: listOf(WORKLOADS), default: 'all', help: `Workloads to run: ${WORKLOADS.join(', ')} (lwip and veth add their peers to the rpc, bulk and zc rows; seg is the per-segment rows and the projection).` },
      { name: 'instructions', help: 'Also count instructions per data segment with callgrind when perf cannot (about 3 minutes; never with --quick).' },
      { name: 'segments', value: '<n>', parse: intIn(100, 100000000), help: 'Per-segment rows: data segments per figure (default 30000 with --quick, 120000 without).' },
      { name: 'seg-conns', value: '<list>', parse: listOf(['1', '16', '256', '4096']), default: 'all', help: 'Per-segment rows: connection counts (1, 16, 256, 4096; 1 always runs, for the projection).' },
      { name: 'link', value: '<ring|mem>', parse: oneOf(['ring', 'mem'] as const), default: 'ring', help: 'In-process wire: a crossed net_ring pair (DPDK) or the TypeScript memory link. Falls back to mem when DPDK is unusable.' },
      { name: 'warmup', value: '<ms>', parse: intIn(0, 600000), help: 'Warm-up before each figure (default 1000, 200 with --quick).' },
      { name: 'duration', value: '<ms>', parse: intIn(10, 600000), help: 'Measured stretch per figure (default 5000, 1000 with --quick).' },
      { name: 'http', help: 'Instead of the suite: wrk from a Linux namespace against tzstack serve (net_tap with TSO, net_af_packet) and against the same Node http.Server over the kernel, for each --http-sizes × --http-conns.' },
      { name: 'http-sizes', value: '<list>', parse: sizeList, default: '64,1024,4096,8192', help: 'With --http: response body sizes in bytes.' },
      { name: 'http-conns', value: '<list>', parse: countList, help: 'With --http: connection counts (default 1,16,64,200; 1,16,200 with --quick).' },
      { name: 'http-targets', value: '<list>', parse: listOf(HTTP_TARGETS), default: 'all', help: `With --http: what wrk runs against: ${HTTP_TARGETS.join(', ')}.` },
      { name: 'http-pin', help: 'With --http: run the servers on CPU 0 and wrk on CPU 1 (taskset).' },
      { name: 'report', value: '<dir>', parse: nonEmpty, help: 'Also write an HTML page with SVG charts (index.html) and report.json into this directory.' },
      { name: 'role', value: '<client|server>', parse: oneOf(['client', 'server'] as const), help: 'Line-rate mode: run this side.' },
      { name: 'dev', value: '<devargs|PCI>', parse: nonEmpty, help: 'Line-rate mode: the device (PCI address such as 0000:3b:00.0, or DPDK devargs).' },
      { name: 'ip', value: '<a.b.c.d/len>', parse: cidrArg, help: 'Line-rate mode: our address.' },
      { name: 'peer', value: '<a.b.c.d>', parse: ipv4Arg, help: "Line-rate client: the server's address." },
      { name: 'peer-mac', value: '<mac>', parse: nonEmpty, help: "Line-rate mode: the peer's MAC as a static ARP entry in every worker (needed with several queues: ARP replies land on one queue)." },
      { name: 'queues', value: '<n>', parse: intIn(1, 64), default: '1', help: 'Line-rate mode: rx/tx queues, one worker thread each.' },
      { name: 'workload', value: '<bulk|rpc>', parse: oneOf(['bulk', 'rpc'] as const), default: 'bulk', help: 'Line-rate client: what to run.' },
      { name: 'api', value: '<zc|copy>', parse: oneOf(['zc', 'copy'] as const), default: 'zc', help: 'Line-rate client: writeMbuf (zero copy) or write (copying).' },
      { name: 'size', value: '<bytes>', parse: intIn(1, 1 << 24), default: '65536', help: 'Line-rate client: bytes per write (bulk) or per request (rpc).' },
      { name: 'conns', value: '<n>', parse: intIn(1, 65536), default: '1', help: 'Line-rate client: connections per worker.' },
      { name: 'max-seconds', value: '<s>', parse: intIn(1, 86400), default: '3600', help: 'Line-rate server: stop after this long.' },
      { name: 'mbufs', value: '<n>', parse: intIn(1024, 1 << 22), default: '65535', help: 'Line-rate mode: packet buffers in the pool.' },
      { name: 'mem', value: '<MB>', parse: intIn(64, 1 << 20), default: '1024', help: 'Line-rate mode: memory for DPDK in MB (hugepage memory with --hugepages).' },
      { name: 'hugepages', value: '<yes|no>', parse: oneOf(['yes', 'no'] as const), help: 'Line-rate mode: run DPDK on hugepages (default: yes for a PCI --dev, no for a virtual device).' },
      { name: 'lcores', value: '<list>', parse: nonEmpty, help: "Line-rate mode: EAL cores, e.g. 2-5 (-l) or (0-3)@2 (--lcores); default: this process's first CPU." },
      { name: 'socket-mem', value: '<MB,MB>', parse: nonEmpty, help: 'Line-rate mode with hugepages: hugepage MB per NUMA socket (replaces --mem), e.g. 4096,0.' },
    ],
    examples: [
      'npm run bench -- --quick',
      'tzstack bench --json bench.json',
      'tzstack bench --role server --dev 0000:3b:00.0 --ip 10.75.0.1/24 --queues 4 --peer-mac 0c:42:a1:00:00:02 --socket-mem 4096,0',
      'tzstack bench --role client --dev 0000:3b:00.0 --ip 10.75.0.2/24 --peer 10.75.0.1 --peer-mac 0c:42:a1:00:00:01 --queues 4 --conns 4',
    ],
  },
  run,
};

async function run(args: ParsedArgs): Promise<number> {
  const v = args.values;
  if (v.role !== undefined) return runRole(v);
  if (v.http === true) return runHttp(v);
  const { runSuite } = await import('./suite.js');
  const { formatTable } = await import('./table.js');
  const quick = v.quick === true;
  const report = await runSuite({
    quick,
    only: v.only as string[],
    link: (v.link === 'mem' ? 'mem' : 'net_ring') as LinkKind,
    warmupMs: v.warmup as number | undefined,
    durationMs: v.duration as number | undefined,
    instructions: v.instructions === true && !quick,
    segments: v.segments as number | undefined,
    segConns: (v['seg-conns'] as string[]).map(Number),
  }, `tzstack bench ${process.argv.slice(2).join(' ')}`.trim());
  process.stdout.write(formatTable(report));
  if (typeof v.json === 'string') {
    writeFileSync(v.json, JSON.stringify(report, null, 2) + '\n');
    progress(`figures written to ${v.json}`);
  }
  if (typeof v.report === 'string') {
    const { writeReport } = await import('./report-html.js');
    progress(`report written to ${writeReport(v.report, { suite: report })}`);
  }
  return report.rows.some((r) => r.tzstack !== null) ? 0 : 1;
}

async function runRole(v: Record<string, unknown>): Promise<number> {
  const role = v.role as 'client' | 'server';
  for (const f of ['dev', 'ip', ...(role === 'client' ? ['peer'] : [])]) {
    if (v[f] === undefined) {
      process.stderr.write(`tzstack bench: --role ${role} needs --${f}\n`);
      return 2;
    }
  }
  const { runPeer } = await import('./linerate.js');
  const quick = v.quick === true;
  const result = await runPeer({
    role, dev: v.dev as string, ip: v.ip as string, peer: v.peer as string | undefined, peerMac: v['peer-mac'] as string | undefined,
    queues: v.queues as number, workload: v.workload as 'bulk' | 'rpc', api: v.api as 'zc' | 'copy', size: v.size as number,
    conns: v.conns as number, warmupMs: (v.warmup as number | undefined) ?? (quick ? 200 : 1000),
    durationMs: (v.duration as number | undefined) ?? (quick ? 1000 : 10000), maxSeconds: v['max-seconds'] as number,
    mbufs: v.mbufs as number, memMb: v.mem as number,
    hugepages: v.hugepages === undefined ? undefined : v.hugepages === 'yes',
    lcores: v.lcores as string | undefined, socketMem: v['socket-mem'] as string | undefined,
    onReady: () => {
      process.stdout.write(JSON.stringify({ event: 'ready', role }) + '\n');
      progress(`${role} ready on ${v.dev as string} with ${v.queues as number} queue(s)`);
    },
  });
  process.stdout.write(JSON.stringify(result) + '\n');
  if (typeof v.json === 'string') writeFileSync(v.json, JSON.stringify(result, null, 2) + '\n');
  progress(role === 'client'
    ? `${result.workload} ${result.api}: ${result.gbps.toFixed(2)} Gb/s, ${Math.round(result.reqPerSec)} req/s over ${result.connsEstablished} conns`
    : `server done: ${result.bytes} bytes from ${result.connsEstablished} connections`);
  return result.mbufsHeldAtExit === 0 ? 0 : 1;
}

async function runHttp(v: Record<string, unknown>): Promise<number> {
  const { runHttpBench, formatHttpTable } = await import('./http.js');
  const quick = v.quick === true;
  const durationMs = v.duration as number | undefined;
  const report = await runHttpBench({
    sizes: v['http-sizes'] as number[],
    conns: (v['http-conns'] as number[] | undefined) ?? (quick ? [1, 16, 200] : [1, 16, 64, 200]),
    targets: v['http-targets'] as Array<typeof HTTP_TARGETS[number]>,
    seconds: Math.max(1, Math.round((durationMs ?? (quick ? 2000 : 10000)) / 1000)),
    warmupSeconds: (v.warmup as number | undefined) !== undefined ? Math.round((v.warmup as number) / 1000) : (quick ? 1 : 2),
    command: `tzstack bench ${process.argv.slice(2).join(' ')}`.trim(),
    pin: v['http-pin'] === true,
  });
  process.stdout.write(formatHttpTable(report));
  if (typeof v.json === 'string') {
    writeFileSync(v.json, JSON.stringify(report, null, 2) + '\n');
    progress(`figures written to ${v.json}`);
  }
  if (typeof v.report === 'string') {
    const { writeReport } = await import('./report-html.js');
    progress(`report written to ${writeReport(v.report, { http: report })}`);
  }
  return report.points.some((p) => p.target !== 'node-kernel') ? 0 : 1;
}
