/**
 * Instruction counts of a hand-off (repeatable on a loaded machine, unlike
 * time), for `bench/callgrind.sh --harness handoff`: one thread runs `n` operations of
 * one kind after a warm-up, with callgrind's instrumentation switched on for
 * the measured window only (TZSTACK_CALLGRIND=1):
 *
 * - `ring`: one handle through a HandoffRing (enqueue and dequeue in bursts
 *   of 32; what each side of a hand-off pays, without the waiting);
 * - `clone`: structuredClone of a 64-byte payload (what postMessage does to
 *   the payload on each side);
 * - `post`: a 64-byte payload through a MessageChannel within this thread
 *   (postMessage, the event loop delivering it, the listener);
 * - `shard`: one 64 B request/response between a server and a client stack
 *   over a 1-queue net_memif pair, each behind a 2-shard ShardPort.
 *
 * Prints JSON with the operation count; the script divides.
 */
import { callgrindInstrument } from './callgrind-window.js';
import { MessageChannel } from 'node:worker_threads';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import type { Ip4 } from '../src/ip/addr.js';


function ring(n: number, warm: number): number {
  const r = HandoffRing.create(1024);
  const h = new Uint32Array(32).map((_, i) => 64 + i * 2304);
  const out = new Uint32Array(32);
  for (let i = 0; i < warm / 32; i++) { r.enqueue(h, 32); r.dequeue(out, 32); }
  callgrindInstrument(true);
  const rounds = Math.ceil(n / 32);
  for (let i = 0; i < rounds; i++) { r.enqueue(h, 32); r.dequeue(out, 32); }
  callgrindInstrument(false);
  return rounds * 32;
}

function clone(n: number, warm: number): number {
  const p = new Uint8Array(64).fill(7);
  for (let i = 0; i < warm; i++) structuredClone(p);
  callgrindInstrument(true);
  for (let i = 0; i < n; i++) structuredClone(p);
  callgrindInstrument(false);
  return n;
}

async function post(n: number, warm: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  const p = new Uint8Array(64).fill(7);
  let left = 0;
  let done: () => void = () => {};
  port2.on('message', () => { if (--left === 0) done(); else port1.postMessage(p); });
  const burst = (k: number): Promise<void> => new Promise((r) => { left = k; done = r; port1.postMessage(p); });
  await burst(warm);
  callgrindInstrument(true);
  await burst(n);
  callgrindInstrument(false);
  port1.close();
  return n;
}

async function shard(n: number, warm: number): Promise<number> {
  const { Dpdk } = await import('../src/pmd/dpdk.js');
  const { Stack } = await import('../src/stack.js');
  const { ShardPort } = await import('../src/shard/steer.js');
  const dpdk = Dpdk.init({ memMb: 256 });
  const pool = dpdk.createPool({ count: 8191 });
  const sock = `/tmp/tzshard-instr-${process.pid}.sock`;
  const a = dpdk.openPort(`net_memif40,role=server,socket=${sock}`, { pool, checksumUnneeded: true });
  const b = dpdk.openPort(`net_memif41,role=client,socket=${sock}`, { pool, checksumUnneeded: true });
  for (let i = 0; i < 400 && !(a.link().up && b.link().up); i++) await new Promise((r) => setTimeout(r, 25));
  // The rings towards shard 1 (which never runs here) collect ARP copies: drained after close.
  const outbound: HandoffRing[] = [];
  const wrap = (p: typeof a): InstanceType<typeof ShardPort> => {
    const out = HandoffRing.create(64);
    outbound.push(out);
    return new ShardPort(p, { shard: 0, shards: 2, inbound: [undefined, HandoffRing.create(64)], outbound: [undefined, out] });
  };
  const sa = new Stack({ port: wrap(a), ip: '10.80.0.1/24', idleBackoff: false, tcp: { noDelay: true } });
  const sb = new Stack({ port: wrap(b), ip: '10.80.0.2/24', idleBackoff: false, tcp: { noDelay: true, ephemeralLow: 32768, ephemeralHigh: 40000 } });
  const l = sa.tcp.listen(7);
  l.onConnection = (c) => { c.onReadable = () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) if (!c.writeMbuf(m)) pool.free(m); }; };
  const msg = new Uint8Array(64).fill(0x42);
  let requests = 0;
  const c = sb.tcp.connect(0x0a500001 as Ip4, 7, { noDelay: true });
  let got = 0;
  c.onConnect = () => { c.write(msg); };
  c.onReadable = () => {
    for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got += pool.pktLen(m); pool.free(m); }
    while (got >= 64) { got -= 64; requests++; c.write(msg); }
  };
  const until = (k: number): void => { while (requests < k) { sa.poll(); sb.poll(); } };
  until(warm);
  const r0 = requests;
  callgrindInstrument(true);
  until(warm + n);
  callgrindInstrument(false);
  const done = requests - r0;
  c.abort();
  for (let i = 0; i < 20; i++) { sa.poll(); sb.poll(); }
  await sa.close();
  await sb.close();
  for (const r of outbound) { r.closeConsumer(); r.drain(pool); }
  return done;
}

async function main(argv: string[]): Promise<void> {
  const arg = (k: string, d: string): string => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : d; };
  const what = arg('what', 'ring');
  const n = Number(arg('n', '100000'));
  const warm = Number(arg('warmup', '100000'));
  const ops = what === 'ring' ? ring(n, warm) : what === 'clone' ? clone(n, warm) : what === 'post' ? await post(n, warm) : await shard(n, warm);
  process.stdout.write(`${JSON.stringify({ what, ops })}\n`);
}

main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
