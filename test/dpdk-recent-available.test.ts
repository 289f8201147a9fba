/**
 * Mempool.recentAvailable: the pool's free count kept in JavaScript (a DPDK
 * pool answers from its last exact count, moved by its own stash refills,
 * drains and frees, without a koffi call), exact again after
 * refreshAvailable(); TsMempool's is exact.
 */
import { expect } from 'chai';
import { Dpdk } from '../src/pmd/dpdk.js';
import { TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { allocTxMbuf } from '../src/tcp/zc.js';

const avail = Dpdk.availability();

describe('mempool: recentAvailable', function () {
  this.timeout(60000);

  it('TsMempool: exact', () => {
    const pool = new TsMempool({ count: 64 });
    const m = pool.alloc();
    expect(pool.recentAvailable()).to.equal(63);
    pool.free(m);
    expect(pool.recentAvailable()).to.equal(64);
  });

  it(avail.ok ? 'DPDK pool: follows its own allocations and frees without native calls, exact after a refresh' : `DPDK pool (skipped: ${avail.reason})`, function () {
    if (!avail.ok) this.skip();
    const dpdk = Dpdk.init();
    const pool = dpdk.createPool({ count: 2047, name: `tzT-recent-${process.pid}` });
    try {
      const start = pool.available();
      expect(pool.recentAvailable()).to.equal(start);
      const singles: Mbuf[] = [];
      for (let i = 0; i < 100; i++) singles.push(pool.alloc()); // stash refills
      const chains: Mbuf[] = [];
      for (let i = 0; i < 5; i++) chains.push(allocTxMbuf(pool, 20000)); // bulk allocations
      const exactTaken = pool.available();
      pool.refreshAvailable();
      expect(pool.recentAvailable()).to.equal(exactTaken);
      for (const m of singles) pool.free(m);
      for (const m of chains) pool.free(m); // pending, then flushed
      pool.flush();
      // The estimate moved by what this instance did: within the pool's size, and exact here (nothing else uses it).
      expect(pool.recentAvailable()).to.equal(start);
      pool.refreshAvailable();
      expect(pool.recentAvailable()).to.equal(start);
      expect(pool.inUse()).to.equal(0);
    } finally {
      dpdk.destroyPool(pool);
    }
  });
});
