/**
 * The limit of this design: a raw forwarding loop through the same shim
 * (rx_burst → touch the Ethernet header → tx_burst) over one `net_ring`
 * device that loops its transmit queue back to its receive queue. Whatever
 * the stack spends per frame beyond this is protocol work in TypeScript.
 */
import { nowNs } from './measure.js';
import { txBurstOrFree } from '../src/pmd/port.js';
import type { Mbuf } from '../src/mbuf/index.js';

/** What the raw loop measured. */
export interface RawLoopResult {
  /** Wall-clock ns per packet (one rx and one tx each). */
  nsPerPacket: number;
  /** CPU ns per packet (user + system time of this process). */
  cpuNsPerPacket: number;
  mpps: number;
  packets: number;
  burst: number;
}

/**
 * Circulate `burst` frames of 64 bytes for `durationMs` (after `warmupMs`),
 * swapping the MAC addresses of every frame as a forwarder would.
 */
export async function rawForwardLoop(p: { burst: number; warmupMs: number; durationMs: number }): Promise<RawLoopResult> {
  const { Dpdk } = await import('../src/pmd/dpdk.js');
  const dpdk = Dpdk.init({ memMb: 512 });
  const pool = dpdk.createPool({ count: 4096, name: `tzX-raw-${process.pid}` });
  // A name of our own: other ports of this process may use net_ring0.
  const port = dpdk.openPort('net_ring9', { pool });
  const buf = new Uint32Array(p.burst);
  try {
    if (!pool.allocBulk(buf, p.burst)) throw new Error('bench: raw loop could not allocate its frames');
    for (let i = 0; i < p.burst; i++) pool.append(buf[i] as Mbuf, 60);
    txBurstOrFree(port, buf, p.burst);
    const dv = pool.dv;
    const run = (until: number): number => {
      let pkts = 0;
      while (performance.now() < until) {
        for (let r = 0; r < 1024; r++) {
          const n = port.rxBurst(buf, p.burst);
          for (let i = 0; i < n; i++) {
            // Swap destination and source MAC (bytes 0-5 and 6-11) in place.
            const h = pool.mtod(buf[i] as Mbuf);
            const d0 = dv.getUint32(h), d1 = dv.getUint16(h + 4);
            dv.setUint32(h, dv.getUint32(h + 6)); dv.setUint16(h + 4, dv.getUint16(h + 10));
            dv.setUint32(h + 6, d0); dv.setUint16(h + 10, d1);
          }
          pkts += n;
          txBurstOrFree(port, buf, n);
        }
      }
      return pkts;
    };
    run(performance.now() + p.warmupMs);
    const cpu0 = process.cpuUsage();
    const t0 = nowNs();
    const packets = run(performance.now() + p.durationMs);
    const ns = nowNs() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuNs = (cpu.user + cpu.system) * 1000;
    return { nsPerPacket: ns / packets, cpuNsPerPacket: cpuNs / packets, mpps: (packets / ns) * 1e3, packets, burst: p.burst };
  } finally {
    port.close();
    dpdk.destroyPool(pool);
  }
}
