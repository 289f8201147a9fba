/**
 * DpdkMempool.available() with frees pending (chains and indirect mbufs the
 * pool collects for one DPDK free): the pending ones are freed in the same
 * native call as the count, so the count is exact, and stays exact after.
 */
import { expect } from 'chai';
import { Dpdk } from '../src/pmd/dpdk.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { allocTxMbuf } from '../src/tcp/zc.js';
import type { Mbuf } from '../src/mbuf/index.js';

const avail = Dpdk.availability();

describe(avail.ok ? 'dpdk: pool counts with pending frees' : `dpdk: pool counts with pending frees (skipped: ${avail.reason})`, function () {
  this.timeout(60000);
  before(function () {
    if (!avail.ok) { console.log(`    skipping: ${avail.reason}`); this.skip(); }
  });

  it('counts pending chains and indirect mbufs as freed once asked, in one call', () => {
    const dpdk = Dpdk.init();
    const pool = dpdk.createPool({ count: 1023, name: `tzT-count-${process.pid}` });
    try {
      const start = pool.available();
      // Chains (pending, not stashed) and indirect views (pending) of a direct mbuf.
      const chains: Mbuf[] = [];
      for (let i = 0; i < 5; i++) chains.push(allocTxMbuf(pool, 10000));
      const d = pool.alloc();
      pool.setDataLen(d, 100);
      pool.setPktLen(d, 100);
      const views = [pool.refSlice(d, 0, 50), pool.refSlice(d, 50, 50)];
      expect(views).to.not.include(NO_MBUF);
      const taken = start - pool.available();
      expect(taken).to.be.greaterThan(5 * 4);
      for (const m of chains) pool.free(m);
      for (const v of views) pool.free(v);
      expect(pool.refcnt(d)).to.equal(3); // the views' references still pending
      expect(pool.available()).to.equal(start - 1); // only d: the pending frees went with the count
      expect(pool.refcnt(d)).to.equal(1);
      pool.free(d);
      expect(pool.available()).to.equal(start);
      expect(pool.inUse()).to.equal(0);
    } finally {
      dpdk.destroyPool(pool);
    }
  });
});
