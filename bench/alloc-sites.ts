/**
 * Where the send/receive hot path allocates JS heap: segcost's bulk run
 * under V8's sampling heap profiler (collected objects included), the
 * allocation sites by bytes per data segment. Only segcost's measured window
 * is sampled: handshakes, connection set-up and the warm-up are not.
 *   node dist/bench/alloc-sites.js [--segments N] [--warmup N] [--layout mss|packed|copy] [--size B] [--top N]
 *     [--conns N] [--snd-buf B] [--mbufs N] [--mem MB]
 * With many connections, pass the pool and memory segcost's rows use (bench/segrows.ts).
 */
import { Session } from 'node:inspector';
import { segmentCost } from './segcost.js';

interface Node { callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; selfSize: number; children: Node[] }

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const segments = Number(arg('segments', '50000'));
  const warmup = Number(arg('warmup', '50000'));
  const layout = arg('layout', 'mss') as 'mss' | 'packed' | 'copy';
  const size = Number(arg('size', '65536'));
  const top = Number(arg('top', '25'));
  const conns = Number(arg('conns', '1'));
  const sndBuf = argv.includes('--snd-buf') ? Number(arg('snd-buf', '0')) : undefined;
  const mbufs = argv.includes('--mbufs') ? Number(arg('mbufs', '0')) : undefined;
  const memMb = argv.includes('--mem') ? Number(arg('mem', '0')) : undefined;
  // The in-process session answers synchronously, so sampling starts and
  // stops exactly at the window's edges, inside segcost's loop.
  const s = new Session();
  s.connect();
  let profile: { head: Node } | null = null;
  const post = (method: string, params?: object): void => {
    s.post(method, params, (err, res) => {
      if (err) throw err;
      if (method === 'HeapProfiler.stopSampling') profile = (res as { profile: { head: Node } }).profile;
    });
  };
  post('HeapProfiler.enable');
  const window = {
    open: (): void => post('HeapProfiler.startSampling', { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
    close: (): void => post('HeapProfiler.stopSampling'),
  };
  const r = await segmentCost({ conns, size, link: 'net_ring', layout, sndBuf, mbufs, memMb, segments, warmupSegments: warmup, window });
  if (profile === null) throw new Error('alloc-sites: the heap profiler returned no profile');
  const sites = new Map<string, number>();
  const walk = (n: Node, path: string): void => {
    const f = n.callFrame;
    const here = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/dist\//, '')}:${f.lineNumber + 1}`;
    if (n.selfSize > 0) sites.set(`${here}  <- ${path}`, (sites.get(`${here}  <- ${path}`) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, here.split(' ')[0]);
  };
  walk((profile as { head: Node }).head, '');
  const rows = [...sites.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const total = [...sites.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`${layout} size ${size} conns ${conns}: ${r.segments} segments in the window, ` +
    `${(total / r.segments).toFixed(2)} bytes/seg sampled (segcost's heap figure: ${r.bytesPerSegment.toFixed(1)}); by site:\n`);
  for (const [k, v] of rows) process.stdout.write(`${(v / r.segments).toFixed(2).padStart(8)}  ${k}\n`);
  s.disconnect();
}

main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
