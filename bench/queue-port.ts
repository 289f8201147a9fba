/**
 * What a worker thread needs to run a stack on one queue of a port that the
 * process's main thread opened: a view of the shared pool and a Port over
 * one queue, both calling the shim directly.
 *
 * EAL is per process and `Dpdk.init` runs once, in the main thread; the
 * shim is a plain shared library, so a worker's `koffi.load` of it gets the
 * same loaded copy (same EAL, pools and ports). Worker threads are not EAL
 * lcores: `rte_lcore_id()` is LCORE_ID_ANY there, so mempool gets and puts
 * bypass the per-lcore cache and go to the pool's multi-producer /
 * multi-consumer ring (thread-safe, a little slower); each queue's bursts
 * come from the one worker that owns it, as DPDK requires.
 */
import koffi from 'koffi';
import { Mempool } from '../src/mbuf/mempool.js';
import { loadShim, type Shim } from '../src/pmd/dpdk-shim.js';
import { newPortStats, type Port, type PortCaps, type PortStats } from '../src/pmd/port.js';

/** Everything a worker needs to see a pool the main thread created (structured-clone safe). */
export interface PoolHandle {
  id: number; name: string; base: number; span: number; privSize: number; bufLen: number; capacity: number;
}

/** The handle of a DpdkMempool, to pass in workerData. */
export function poolHandle(p: { poolId: number; name: string; baseAddr: number; u8: Uint8Array; privSize: number; bufLen: number; capacity: number }): PoolHandle {
  return { id: p.poolId, name: p.name, base: p.baseAddr, span: p.u8.byteLength, privSize: p.privSize, bufLen: p.bufLen, capacity: p.capacity };
}

/** A DPDK pool created elsewhere in this process, seen from this thread. */
export class AttachedPool extends Mempool {
  readonly capacity: number;
  private readonly shim: Shim;
  private readonly id: number;

  constructor(h: PoolHandle) {
    super(`${h.name}@worker`, koffi.view(BigInt(h.base), h.span), h.base, h.privSize, h.bufLen);
    this.shim = loadShim();
    this.id = h.id;
    this.capacity = h.capacity;
  }

  override allocBulk(out: Uint32Array, n: number): boolean {
    if (n > out.length) throw new RangeError(`allocBulk: ${n} mbufs do not fit an array of ${out.length}`);
    return n <= 0 || this.shim.tz_pool_alloc_bulk(this.id, out, n) === 0;
  }

  override freeBulk(pkts: Uint32Array, n: number): void {
    if (n > 0) this.shim.tz_pool_free_bulk(this.id, pkts, n);
  }

  override available(): number { return this.shim.tz_pool_avail(this.id); }
}

/** One rx/tx queue pair of a started DPDK port, owned by this thread. */
export class QueuePort implements Port {
  readonly name: string;
  private readonly shim: Shim;
  private closed = false;
  private readonly st = newPortStats();
  private readonly qbuf = new BigUint64Array(5);

  constructor(readonly pool: AttachedPool, readonly caps: PortCaps, private readonly portId: number, private readonly queueId: number) {
    this.shim = loadShim();
    this.name = `port${portId}:q${queueId}`;
  }

  get stats(): PortStats {
    if (this.shim.tz_queue_stats(this.portId, this.queueId, this.qbuf) === 0) {
      const b = this.qbuf;
      this.st.rxPackets = Number(b[0]); this.st.rxBytes = Number(b[1]);
      this.st.txPackets = Number(b[2]); this.st.txBytes = Number(b[3]); this.st.txDropped = Number(b[4]);
    }
    return this.st;
  }

  rxBurst(out: Uint32Array, max: number): number {
    if (this.closed) return 0;
    return this.shim.tz_rx_burst(this.portId, this.queueId, out, max < out.length ? max : out.length);
  }

  txBurst(pkts: Uint32Array, n: number): number {
    if (n <= 0) return 0;
    if (this.closed) { this.pool.freeBulk(pkts, n); return 0; }
    return this.shim.tz_tx_burst(this.portId, this.queueId, pkts, n);
  }

  /** Stop using the queue, freeing what waits in its receive ring (the main thread closes the port). */
  close(): void {
    if (this.closed) return;
    const buf = new Uint32Array(64);
    for (let i = 0; i < 1024; i++) {
      const n = this.shim.tz_rx_burst(this.portId, this.queueId, buf, buf.length);
      if (n === 0) break;
      this.pool.freeBulk(buf, n);
    }
    this.closed = true;
  }
}
