/**
 * Mempool.refForTx / releaseRef: a direct mbuf sent by reference while its
 * owner keeps it. A receiver in the same process may chain it behind or in
 * front of its own mbufs and free that chain before or after the owner
 * drops its reference: either order returns every mbuf exactly once, and
 * the owner's release never follows a chain the receiver made.
 */
import { expect } from 'chai';
import { TsMempool, NO_MBUF, type Mempool } from '../src/mbuf/index.js';
import { Dpdk } from '../src/pmd/dpdk.js';

function scenario(pool: Mempool, receiverFirst: boolean): void {
  const start = pool.available();
  const m = pool.alloc();
  pool.setDataLen(m, 1000);
  pool.setPktLen(m, 1000);
  const payloadOff = pool.dataOff(m);
  const tx = pool.refForTx(m, payloadOff, 32, 1000);
  expect(tx).to.equal(m);
  expect(pool.refcnt(m)).to.equal(2);
  expect(pool.dataOff(m)).to.equal(payloadOff - 32);
  expect(pool.pktLen(m)).to.equal(1032);
  // Held elsewhere: a second transmission by reference is refused.
  expect(pool.refForTx(m, payloadOff, 32, 1000)).to.equal(NO_MBUF);
  // The receiver: strips the header, chains one of its own behind it.
  pool.adj(m, 32);
  const x = pool.alloc();
  pool.setDataLen(x, 10);
  pool.setPktLen(x, 10);
  pool.chain(m, x);
  if (receiverFirst) {
    pool.free(m); // m: one reference dropped; x: freed
    pool.flush();
    pool.releaseRef(m);
  } else {
    pool.releaseRef(m); // must not free x (the receiver's) nor m
    expect(pool.refcnt(m)).to.equal(1);
    pool.free(m); // the receiver's chain: m and x
  }
  pool.flush();
  expect(pool.available()).to.equal(start);
}

describe('mbuf: transmit by reference (refForTx / releaseRef)', () => {
  for (const receiverFirst of [true, false]) {
    it(`TsMempool: every mbuf back once, ${receiverFirst ? 'receiver frees first' : 'owner releases first'}`, () => {
      const pool = new TsMempool({ count: 16 });
      scenario(pool, receiverFirst);
      expect(pool.inUse()).to.equal(0);
    });
  }
  const avail = Dpdk.availability();
  it(avail.ok ? 'DPDK pool: both orders' : `DPDK pool (skipped: ${avail.reason})`, function () {
    if (!avail.ok) this.skip();
    this.timeout(60000);
    const dpdk = Dpdk.init();
    const pool = dpdk.createPool({ count: 1023, name: `tzT-byref-${process.pid}` });
    try {
      scenario(pool, true);
      scenario(pool, false);
      expect(pool.inUse()).to.equal(0);
    } finally {
      dpdk.destroyPool(pool);
    }
  });
});
