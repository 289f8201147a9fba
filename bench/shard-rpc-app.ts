/**
 * The shard module of bench/handoff.ts's shard workload. Server role: a
 * zero-copy echo on port 7. Client role: on `{ peer, conns, size, warmupMs,
 * durationMs }`, `conns` ping-pong connections from this shard, counting
 * requests in the measured window. Both answer `cpu` with their thread's
 * CPU time, its busy and empty polls so far, and requests so far.
 */
import { NO_MBUF } from '../src/mbuf/mempool.js';
import type { ShardContext } from '../src/shard/sharded.js';
import { threadCpuNs } from './thread-cpu.js';

export default function shard(ctx: ShardContext): void {
  const { stack } = ctx;
  const pool = stack.pool;
  const role = (ctx.data as { role: 'server' | 'client' }).role;
  let requests = 0;
  // Polls that did work and empty ones, counted: with the CPU time an empty
  // poll costs (measured while idle), the main thread takes the idle spinning
  // out of the thread's CPU time. Thread CPU time, unlike wall time, does not
  // grow while the thread waits for a core.
  let busyPolls = 0;
  let idlePolls = 0;
  const poll = stack.poll.bind(stack);
  stack.poll = (): number => {
    const n = poll();
    if (n > 0) busyPolls++; else idlePolls++;
    return n;
  };
  if (role === 'server') {
    const l = stack.tcp.listen(7, { backlog: 1024 });
    l.onConnection = (c) => {
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { requests++; if (!c.writeMbuf(m)) pool.free(m); }
      };
      c.onPeerFin = () => c.close();
    };
  }
  ctx.onMessage = (d) => {
    if (d === 'cpu') { ctx.post({ kind: 'cpu', shard: ctx.shard, cpuNs: threadCpuNs(), busyPolls, idlePolls, requests }); return; }
    const go = d as { peer: string; conns: number; size: number; warmupMs: number; durationMs: number };
    const msg = new Uint8Array(go.size).fill(0x42);
    const conns = Array.from({ length: go.conns }, () => {
      const c = ctx.connect(go.peer, 7, { noDelay: true });
      let got = 0;
      c.onConnect = () => { c.write(msg); };
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got += pool.pktLen(m); pool.free(m); }
        while (got >= go.size) { got -= go.size; requests++; c.write(msg); }
      };
      return c;
    });
    setTimeout(() => {
      const r0 = requests;
      const c0 = threadCpuNs();
      const t0 = performance.now();
      setTimeout(() => {
        const seconds = (performance.now() - t0) / 1000;
        const r = requests - r0;
        const cpuNs = threadCpuNs() - c0;
        for (const c of conns) { c.onReadable = undefined; c.abort(); }
        ctx.post({ kind: 'result', shard: ctx.shard, requests: r, seconds, cpuNs });
      }, go.durationMs);
    }, go.warmupMs);
  };
}
