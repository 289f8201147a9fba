/**
 * A DPDK pool's stash keeps a bulk sender's mbufs hot: allocBulk takes the
 * mbufs freed last from it (LIFO) when it holds enough, releaseRef puts a
 * send buffer's own mbuf straight back into it (reset, its stale next
 * cleared), and the counts stay exact either way.
 */
import { expect } from 'chai';
import { Dpdk } from '../src/pmd/dpdk.js';
import { NO_MBUF, type Mbuf } from '../src/mbuf/index.js';

const avail = Dpdk.availability();

describe('pmd/dpdk-mempool: the stash serves bulk allocations', function () {
  this.timeout(60000);

  it(avail.ok ? 'allocBulk pops the mbufs freed last; releaseRef stashes a clean mbuf; counts exact' : `skipped: ${avail.reason}`, function () {
    if (!avail.ok) this.skip();
    const dpdk = Dpdk.init();
    const pool = dpdk.createPool({ count: 8191, name: `tzT-stash-${process.pid}` });
    try {
      const start = pool.available();
      const ms: Mbuf[] = [];
      for (let i = 0; i < 100; i++) ms.push(pool.alloc());
      for (const m of ms) pool.free(m); // into the stash, the last freed on top
      const out = new Uint32Array(46);
      expect(pool.allocBulk(out, 46)).to.equal(true);
      expect(Array.from(out)).to.deep.equal(ms.slice(54).map(Number));
      for (const m of out) {
        expect(pool.refcnt(m as Mbuf)).to.equal(1);
        expect(pool.nbSegs(m as Mbuf)).to.equal(1);
        expect(pool.next(m as Mbuf)).to.equal(NO_MBUF);
        expect(pool.dataLen(m as Mbuf)).to.equal(0);
      }
      expect(pool.available()).to.equal(start - 46);
      // A send buffer's own mbuf, left chained to another (as a zero-copy chain taken apart leaves it).
      const a = out[0] as Mbuf;
      const b = out[1] as Mbuf;
      pool.setNext(a, b);
      pool.setNbSegs(a, 2);
      pool.setDataLen(a, 1448);
      pool.releaseRef(a);
      expect(pool.available()).to.equal(start - 45);
      const again = pool.alloc();
      expect(again).to.equal(a);
      expect(pool.next(again)).to.equal(NO_MBUF);
      expect(pool.nbSegs(again)).to.equal(1);
      expect(pool.dataLen(again)).to.equal(0);
      expect(pool.refcnt(b)).to.equal(1); // its old next untouched
      // Held by another reference: only the count drops.
      pool.refcntUpdate(again, 1);
      pool.releaseRef(again);
      expect(pool.refcnt(again)).to.equal(1);
      pool.free(again);
      for (let i = 1; i < 46; i++) pool.free(out[i] as Mbuf);
      // More than the stash holds: from DPDK, all or nothing as before.
      const big = new Uint32Array(3000);
      expect(pool.allocBulk(big, 3000)).to.equal(true);
      pool.freeBulk(big, 3000);
      expect(pool.available()).to.equal(start);
      expect(pool.inUse()).to.equal(0);
    } finally {
      dpdk.destroyPool(pool);
    }
  });
});
