/**
 * The worker thread of one shard (started by {@link ShardedStack.start}):
 * attaches to the main thread's DPDK pool and port, runs a whole
 * {@link Stack} on its own queue behind a {@link ShardPort}, loads the
 * application's module and hands it a {@link ShardContext}. Answers the
 * main thread's `stats` and `close` requests; an uncaught error closes the
 * stack (every mbuf it holds goes back), is reported and ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HandoffRing } from '../mbuf/handoff-ring.js';
import { Dpdk } from '../pmd/dpdk.js';
import { PcapPort } from '../pmd/pcap.js';
import type { Port } from '../pmd/port.js';
import { Stack } from '../stack.js';
import { ShardContextImpl, type ShardJob, type ToMain, type ToShard } from './context.js';
import { FlowTable, ShardPort } from './steer.js';
import { setUdpEphemeralRange } from '../udp/socket.js';

const job = workerData as ShardJob;
const port = parentPort!;
const post = (m: ToMain): void => port.postMessage(m);

let dpdk: ReturnType<typeof Dpdk.attach> | undefined;
let stack: Stack | undefined;
let ctx: ShardContextImpl | undefined;
let sp: ShardPort | undefined;
let ending = false;

/** Close the application, the stack and the attachment, whatever state they are in. */
async function shutdown(): Promise<Record<string, unknown> | undefined> {
  let stats: Record<string, unknown> | undefined;
  try { await ctx?.runCloseHooks(); } catch { /* the stack closes anyway */ }
  try {
    if (stack) { await stack.close(); stats = ctx?.stats(); }
  } finally {
    dpdk?.close();
    dpdk = undefined;
  }
  return stats;
}

async function crash(e: unknown): Promise<void> {
  if (ending) return;
  ending = true;
  const message = e instanceof Error ? e.stack ?? e.message : String(e);
  let stats: Record<string, unknown> | undefined;
  try { stats = await shutdown(); } catch { /* report the first error */ }
  post({ type: 'crashed', shard: job.shard, message, stats });
  process.exit(1);
}

// An application that calls process.exit() ends the thread without the
// close above: give the mbufs back on the way out (Stack.close and
// DpdkAttached.close do their work synchronously).
process.on('exit', () => {
  if (ending) return;
  ending = true;
  try { void stack?.close(); } catch { /* the thread is ending */ }
  dpdk?.close();
  dpdk = undefined;
});
process.on('uncaughtException', (e) => { void crash(e); });
process.on('unhandledRejection', (e) => { void crash(e); });

port.on('message', (msg: ToShard) => {
  if (msg.type === 'stats') {
    post({ type: 'stats', id: msg.id, shard: job.shard, stats: ctx?.stats() ?? {} });
  } else if (msg.type === 'close') {
    if (ending) return;
    ending = true;
    shutdown().then(
      (stats) => {
        post({ type: 'closed', shard: job.shard, stats: stats ?? {} });
        port.close();
        // An application timer left running would keep the thread alive: end it anyway.
        setTimeout(() => process.exit(0), 500).unref();
      },
      (e: unknown) => { post({ type: 'crashed', shard: job.shard, message: e instanceof Error ? e.stack ?? e.message : String(e) }); process.exit(1); },
    );
  } else if (msg.type === 'app') {
    ctx?.deliver(msg.data);
  } else if (msg.type === 'adopt') {
    if (dpdk && sp && !ending) {
      const q = dpdk.queue(job.portId, msg.queue);
      // Its frames go on being captured, in a part of their own that the main thread merges with the rest.
      sp.adopt(job.pcap !== undefined ? new PcapPort(q, { path: `${job.pcap}.q${msg.queue}` }) : q);
    }
  }
});

async function main(): Promise<void> {
  dpdk = Dpdk.attach(job.handle);
  const dq = dpdk.queue(job.portId, job.shard);
  // The capture sits on the device queue, under the steering: each frame is recorded once, by the shard that took it off the device.
  const pcap = job.pcap !== undefined ? new PcapPort(dq, { path: job.pcap }) : undefined;
  const queue: Port = pcap ?? dq;
  sp = new ShardPort(queue, {
    shard: job.shard, shards: job.shards,
    inbound: job.inbound.map((b) => (b ? HandoffRing.attach(b) : undefined)),
    outbound: job.outbound.map((b) => (b ? HandoffRing.attach(b) : undefined)),
    ephemeralLow: job.ephemeralLow, ephemeralHigh: job.ephemeralHigh,
    flows: FlowTable.attach(job.flows),
  });
  stack = new Stack({
    ...job.stackOptions,
    port: sp, ip: job.ip, gateway: job.gateway,
    tcp: { ...job.stackOptions.tcp, ephemeralLow: job.block.low, ephemeralHigh: job.block.high },
  });
  setUdpEphemeralRange(stack, job.block.low, job.block.high);
  ctx = new ShardContextImpl(job, stack, sp, dpdk.lcoreId, post);
  if (pcap) ctx.shardStats = () => ({ pcap: { path: job.pcap, ...pcap.pcapStats } });
  const mod = (await import(job.module)) as { default?: unknown; shard?: unknown };
  const fn = typeof mod.shard === 'function' ? mod.shard : mod.default;
  if (typeof fn !== 'function') throw new Error(`${job.module} exports no function (export default function (ctx) {...} or export function shard(ctx) {...})`);
  stack.start();
  await (fn as (c: ShardContextImpl) => unknown)(ctx);
  post({ type: 'ready', shard: job.shard, lcoreId: dpdk.lcoreId });
}

main().catch((e: unknown) => { void crash(e); });
