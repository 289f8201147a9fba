/**
 * The service thread of bench/chain.ts: transforms each request body (every
 * byte XOR 0x20) and hands it back — over the HandoffRing (the front's mbufs,
 * changed in place), over postMessage (a copy each way), or as a TCP server
 * on a second stack (a second TCP pass, zero-copy echo of the transformed
 * mbufs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HandoffRing } from '../src/mbuf/handoff-ring.js';
import { NO_MBUF, type Mempool } from '../src/mbuf/mempool.js';
import { Dpdk, type DpdkAttachHandle } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import type { Mbuf } from '../src/mbuf/index.js';

/** What bench/chain.ts hands the service. */
export interface ChainJob {
  mode: 'ring' | 'post' | 'tcp';
  handle?: DpdkAttachHandle;
  req?: SharedArrayBuffer;
  rep?: SharedArrayBuffer;
  portId?: number;
  ip?: string;
  stop: SharedArrayBuffer;
}

const job = workerData as ChainJob;
const stop = new Int32Array(job.stop);
const port = parentPort!;

/** The service's work: every byte of every segment XOR 0x20, in place. */
function transform(pool: Mempool, m: Mbuf): void {
  const u8 = pool.u8;
  for (let s = m; s !== NO_MBUF; s = pool.next(s)) {
    const p = pool.mtod(s);
    const e = p + pool.dataLen(s);
    for (let i = p; i < e; i++) u8[i] ^= 0x20;
  }
}

async function main(): Promise<void> {
  if (job.mode === 'post') {
    port.on('message', (m: { idx: number; data: Uint8Array } | 'stop') => {
      if (m === 'stop') { port.close(); return; }
      const d = m.data;
      for (let i = 0; i < d.length; i++) d[i] ^= 0x20;
      port.postMessage(m);
    });
    port.postMessage({ type: 'ready' });
    return;
  }
  const dpdk = Dpdk.attach(job.handle!);
  if (job.mode === 'ring') {
    const pool = dpdk.pool();
    const req = HandoffRing.attach(job.req!);
    const rep = HandoffRing.attach(job.rep!);
    const buf = new Uint32Array(32);
    port.postMessage({ type: 'ready' });
    while (Atomics.load(stop, 0) === 0) {
      const n = req.dequeue(buf, 32);
      for (let i = 0; i < n; i++) transform(pool, buf[i] as Mbuf);
      let sent = 0;
      while (sent < n) sent += rep.enqueue(buf, n - sent, sent);
      // Nothing to do: sleep until the front hands something over (no spinning).
      if (n === 0) req.wait(20);
    }
    req.closeConsumer();
    dpdk.close();
    port.postMessage({ type: 'done' });
    return;
  }
  // Stack.start's loop, sleeping (up to 1 ms) once idle: a service that
  // spins would take a core from the front on a machine without spare ones.
  const stack = new Stack({ port: dpdk.queue(job.portId!, 0), ip: job.ip!, idleBackoff: true, maxIdleDelayMs: 1, tcp: { noDelay: true } });
  const pool = stack.pool;
  const l = stack.tcp.listen(9000, { backlog: 256 });
  l.onConnection = (c) => {
    c.onReadable = () => {
      for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { transform(pool, m); if (!c.writeMbuf(m)) pool.free(m); }
    };
    c.onPeerFin = () => c.close();
  };
  port.postMessage({ type: 'ready' });
  stack.start();
  while (Atomics.load(stop, 0) === 0) await new Promise((r) => setTimeout(r, 5));
  await stack.close();
  dpdk.close();
  port.postMessage({ type: 'done' });
}

main().catch((e: unknown) => port.postMessage({ type: 'error', message: e instanceof Error ? e.stack : String(e) }));
