/**
 * Two dual-stack tzstacks (IPv4 and IPv6) on a memory link under one
 * virtual clock, for the socket tests of both families: `run` polls both and
 * lets the event loop turn until a condition holds, one virtual millisecond
 * at a time.
 */
import { expect } from 'chai';
import { ipv6Protocol, type Ipv6Options } from '../../src/ipv6-attach.js';
import { TsMempool } from '../../src/mbuf/index.js';
import { createLinkPair } from '../../src/pmd/memory-link.js';
import { Stack } from '../../src/stack.js';
import type { TcpConfig } from '../../src/tcp/config.js';
import { VirtualClock } from '../../src/util/clock.js';

/** What {@link dualPair} varies. */
export interface DualPairOptions {
  /** a's and b's IPv4 address with prefix length ('10.7.0.1/24'). */
  ip4: [string, string];
  /** a's and b's IPv6 addresses with prefix length. */
  ip6: [string[], string[]];
  nd: Ipv6Options['nd'];
  tcp?: Partial<TcpConfig>;
  /** Mbufs in the shared pool (default 4096). */
  poolSize?: number;
  /** How long `run` waits by default, in virtual ms (default 20,000). */
  runMs?: number;
}

/** The pair: `run(until)` resolves true once `until()` holds, false after `maxMs`; `close` closes both and checks every mbuf came back. */
export interface DualPair {
  pool: TsMempool;
  clock: VirtualClock;
  a: Stack;
  b: Stack;
  run: (until: () => boolean, maxMs?: number) => Promise<boolean>;
  close: () => Promise<void>;
}

/** Two stacks `a` and `b` as {@link DualPairOptions} say. */
export function dualPair(o: DualPairOptions): DualPair {
  const pool = new TsMempool({ count: o.poolSize ?? 4096 });
  const clock = new VirtualClock(1000);
  const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
  const { nd, tcp } = o;
  const a = new Stack({ port: pa, ip: o.ip4[0], clock, tcp, idleBackoff: false, protocols: [ipv6Protocol({ addresses: o.ip6[0], nd })] });
  const b = new Stack({ port: pb, ip: o.ip4[1], clock, tcp, idleBackoff: false, protocols: [ipv6Protocol({ addresses: o.ip6[1], nd })] });
  const run = async (until: () => boolean, maxMs = o.runMs ?? 20_000): Promise<boolean> => {
    for (let t = 0; t < maxMs; t++) {
      for (let i = 0; i < 4; i++) { a.poll(); b.poll(); await new Promise((r) => setImmediate(r)); }
      if (until()) return true;
      clock.advance(1);
    }
    return false;
  };
  const close = async (): Promise<void> => {
    await a.close();
    await b.close();
    expect(pool.inUse()).to.equal(0);
  };
  return { pool, clock, a, b, run, close };
}
