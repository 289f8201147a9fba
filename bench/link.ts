/**
 * The in-process wire between two stacks for the single-process workloads.
 *
 * Preferred: two DPDK `net_ring` ports crossed over two `rte_ring`s made
 * with `rte_eth_from_rings()` (A transmits into the ring B receives from and
 * back), so packets cross the same shim bursts a NIC would, with zero
 * copies. The shim does not wrap `rte_eth_from_rings`, so this module calls
 * the two exported DPDK functions through koffi directly, after
 * `Dpdk.init()`, then opens the resulting devices with `dpdk.openPort`
 * (which finds a device that already exists by name).
 *
 * Fallback when DPDK is unavailable (no shim, not root): the TypeScript
 * in-memory link, reported as such.
 */
import koffi from 'koffi';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import type { Mempool } from '../src/mbuf/mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import type { Port } from '../src/pmd/port.js';
import { Stack } from '../src/stack.js';
import type { TcpConfig } from '../src/tcp/config.js';

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

interface RingApi {
  create(name: string, count: number): unknown;
  free(r: unknown): void;
  fromRings(name: string, rx: unknown, tx: unknown): number;
}

let ringApi: RingApi | undefined;
function loadRingApi(): RingApi {
  if (ringApi) return ringApi;
  const ring = koffi.load('librte_ring.so.23');
  const netRing = koffi.load('librte_net_ring.so.23');
  const create = ring.func('void *rte_ring_create(const char *name, unsigned int count, int socket_id, unsigned int flags)');
  const free = ring.func('void rte_ring_free(void *r)');
  const from = netRing.func('int rte_eth_from_rings(const char *name, void **rx, unsigned int nb_rx, void **tx, unsigned int nb_tx, unsigned int numa)');
  ringApi = {
    create: (name, count) => create(name, count, -1, 0),
    free: (r) => free(r),
    fromRings: (name, rx, tx) => from(name, [rx], 1, [tx], 1, 0) as number,
  };
  return ringApi;
}

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
 */
export async function createStackPair(opts: { kind: LinkKind; mbufs: number; tcp?: Partial<TcpConfig> }): Promise<StackPair> {
  let pa: Port;
  let pb: Port;
  let pool: Mempool;
  let release: () => void = () => {};
  let kind = opts.kind;
  if (kind === 'net_ring' && !(await dpdkUsable()).ok) kind = 'mem';
  if (kind === 'net_ring') {
    const { Dpdk } = await import('../src/pmd/dpdk.js');
    const dpdk = Dpdk.init({ memMb: 512 });
    const api = loadRingApi();
    const id = `${process.pid}-${pairSeq++}`;
    const p = dpdk.createPool({ count: opts.mbufs, name: `tzX-pool-${id}` });
    const r1 = api.create(`tzX-r1-${id}`, 4096);
    const r2 = api.create(`tzX-r2-${id}`, 4096);
    if (!r1 || !r2) throw new Error('bench: rte_ring_create failed');
    const na = api.fromRings(`tzXa${id}`, r1, r2);
    const nb = api.fromRings(`tzXb${id}`, r2, r1);
    if (na < 0 || nb < 0) throw new Error(`bench: rte_eth_from_rings failed (${na}, ${nb})`);
    pool = p;
    pa = dpdk.openPort(`net_ring_tzXa${id}`, { pool: p, checksumUnneeded: true });
    pb = dpdk.openPort(`net_ring_tzXb${id}`, { pool: p, checksumUnneeded: true });
    release = () => {
      api.free(r1);
      api.free(r2);
      dpdk.destroyPool(p);
    };
  } else {
    pool = new TsMempool({ count: opts.mbufs, name: 'tzX-mem' });
    [pa, pb] = createLinkPair(pool);
  }
  const tcp = { noDelay: true, ...opts.tcp };
  const a = new Stack({ port: pa, ip: `${PAIR_IP_A}/24`, idleBackoff: false, tcp });
  const b = new Stack({ port: pb, ip: `${PAIR_IP_B}/24`, idleBackoff: false, tcp });
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
