/**
 * The in-process wire between two stacks for the single-process workloads.
 *
 * Preferred: two DPDK `net_ring` ports crossed over two `rte_ring`s
 * (`dpdk.openRingPair()`, the shim's wrapper of `rte_eth_from_rings`: A
 * transmits into the ring B receives from and back), so packets cross the
 * same shim bursts a NIC would, with zero copies.
 *
 * Fallback when DPDK is unavailable (no shim, not root): the TypeScript
 * in-memory link, reported as such.
 */
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import type { Mempool } from '../src/mbuf/mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import type { Port } from '../src/pmd/port.js';
import { Stack } from '../src/stack.js';
import type { TcpConfig } from '../src/tcp/config.js';
import type { Clock } from '../src/util/clock.js';

/** Which wire a figure was measured over. */
export type LinkKind = 'net_ring' | 'mem';

/** Two stacks joined by an in-process link. */
export interface StackPair {
  kind: LinkKind;
  /** Client side. */
  a: Stack;
  /** Server side. */
  b: Stack;
  pool: Mempool;
  /** One poll of each stack. Returns work done. */
  poll(): number;
  /** Close both stacks and the link; returns mbufs still taken afterwards (should be 0). */
  close(): Promise<number>;
}

/** Addresses used by the in-process pair (Engineer BENCH's 10.75/16). */
export const PAIR_IP_A = '10.75.1.1';
export const PAIR_IP_B = '10.75.1.2';

let pairSeq = 0;

/** Whether DPDK can be used by this process (shim built, root). */
export async function dpdkUsable(): Promise<{ ok: boolean; reason?: string }> {
  try {
    const { Dpdk } = await import('../src/pmd/dpdk.js');
    const a = Dpdk.availability();
    return a.ok ? { ok: true } : { ok: false, reason: a.reason };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * Two stacks over a crossed `net_ring` pair (or the memory link when
 * `kind` is 'mem' or DPDK is not usable), with static ARP entries both ways
 * so no workload waits on ARP.
 * @param opts.ringSize - slots in each direction's ring (default 4096),
 *   the frames that can sit between one stack's transmit and the other's
 *   receive: a NIC's transmit ring, the wire and the peer's receive ring in one
 */
export async function createStackPair(opts: {
  kind: LinkKind; mbufs: number; tcp?: Partial<TcpConfig>; gro?: boolean; memMb?: number; clock?: Clock; ringSize?: number;
}): Promise<StackPair> {
  let pa: Port;
  let pb: Port;
  let pool: Mempool;
  let release: () => void = () => {};
  let kind = opts.kind;
  if (kind === 'net_ring' && !(await dpdkUsable()).ok) kind = 'mem';
  if (kind === 'net_ring') {
    const { Dpdk } = await import('../src/pmd/dpdk.js');
    const dpdk = Dpdk.init({ memMb: opts.memMb ?? 512 });
    const id = `${process.pid}-${pairSeq++}`;
    const p = dpdk.createPool({ count: opts.mbufs, name: `tzX-pool-${id}` });
    pool = p;
    // Both ports closing (Stack.close) frees the rings and anything left in them.
    [pa, pb] = dpdk.openRingPair({ pool: p, ringSize: opts.ringSize ?? 4096 });
    release = () => dpdk.destroyPool(p);
  } else {
    pool = new TsMempool({ count: opts.mbufs, name: 'tzX-mem' });
    [pa, pb] = createLinkPair(pool, { ringSize: opts.ringSize });
  }
  const tcp = { noDelay: true, ...opts.tcp };
  const a = new Stack({ port: pa, ip: `${PAIR_IP_A}/24`, idleBackoff: false, tcp, gro: opts.gro, clock: opts.clock });
  const b = new Stack({ port: pb, ip: `${PAIR_IP_B}/24`, idleBackoff: false, tcp, gro: opts.gro, clock: opts.clock });
  a.arp.addStatic(b.localIp, b.mac);
  b.arp.addStatic(a.localIp, a.mac);
  // Let the gratuitous ARP announcements cross and be dropped now, not mid-measurement.
  for (let i = 0; i < 4; i++) { a.poll(); b.poll(); }
  let closed: Promise<number> | undefined;
  return {
    kind, a, b, pool,
    poll: () => a.poll() + b.poll(),
    close: () => (closed ??= (async () => {
      // Abort every connection, then let the resets cross and die before
      // the ports close: a frame sent after its receiver closed would stay
      // in the ring and keep its mbuf.
      a.tcp.close();
      b.tcp.close();
      for (let i = 0; i < 16; i++) { a.poll(); b.poll(); }
      await a.close();
      await b.close();
      const left = pool.inUse();
      if (left === 0) release();
      return left;
    })()),
  };
}
