import { expect } from 'chai';
import { NO_MBUF, TsMempool } from '../src/mbuf/index.js';

describe('mbuf: TsMempool', () => {
  let pool: TsMempool;
  beforeEach(() => { pool = new TsMempool({ count: 64 }); });
  afterEach(() => { expect(pool.inUse(), 'mbufs leaked').to.equal(0); });

  it('allocates reset mbufs with the default headroom and frees them', () => {
    const m = pool.alloc();
    expect(m).to.not.equal(NO_MBUF);
    expect(pool.dataOff(m)).to.equal(128);
    expect(pool.dataLen(m)).to.equal(0);
    expect(pool.refcnt(m)).to.equal(1);
    expect(pool.tailroom(m)).to.equal(2048);
    expect(pool.inUse()).to.equal(1);
    pool.free(m);
    expect(() => pool.free(m)).to.throw(/double free/);
  });

  it('prepends, appends, adjusts and trims in place', () => {
    const m = pool.alloc();
    const at = pool.append(m, 100);
    pool.u8.fill(7, at, at + 100);
    const h = pool.prepend(m, 14);
    expect(h).to.equal(at - 14);
    expect(pool.pktLen(m)).to.equal(114);
    expect(pool.prepend(m, 200)).to.equal(-1);
    expect(pool.adj(m, 14)).to.equal(at);
    expect(pool.trim(m, 50)).to.equal(true);
    expect(pool.pktLen(m)).to.equal(50);
    expect(pool.append(m, 5000)).to.equal(-1);
    pool.free(m);
  });

  it('chains packets and copies across segments', () => {
    const big = new Uint8Array(5000).map((_, i) => i & 0xff);
    const m = pool.fromBytes(big);
    expect(pool.nbSegs(m)).to.equal(3);
    expect(pool.pktLen(m)).to.equal(5000);
    expect(pool.toBytes(m)).to.deep.equal(big);
    expect(pool.truncate(m, 2100)).to.equal(true);
    expect(pool.nbSegs(m)).to.equal(2);
    expect(pool.inUse()).to.equal(2);
    expect(pool.toBytes(m)).to.deep.equal(big.subarray(0, 2100));
    pool.free(m);
  });

  it('slices by reference: indirect mbufs keep the payload alive until the last reference goes', () => {
    const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
    const m = pool.fromBytes(data);
    const s = pool.refSlice(m, 1000, 1500);
    expect(pool.pktLen(s)).to.equal(1500);
    expect(pool.toBytes(s)).to.deep.equal(data.subarray(1000, 2500));
    expect(pool.isDirect(s)).to.equal(false);
    pool.free(m); // the application frees its packet; the slice still holds the buffers
    expect(pool.inUse()).to.be.greaterThan(0);
    expect(pool.toBytes(s)).to.deep.equal(data.subarray(1000, 2500));
    pool.free(s);
  });

  it('reports an empty pool without leaking a partial chain', () => {
    const small = new TsMempool({ count: 2 });
    expect(small.fromBytes(new Uint8Array(5000))).to.equal(NO_MBUF);
    expect(small.inUse()).to.equal(0);
  });

  it('sets tx_offload bit fields as DPDK packs them', () => {
    const m = pool.alloc();
    pool.setTxOffload(m, 14, 20, 20, 1448);
    const v = BigInt(pool.txOffloadHi(m)) * 2n ** 32n + BigInt(pool.txOffloadLo(m));
    expect(v).to.equal(0x5A8140A0En);
    expect(pool.tsoSegsz(m)).to.equal(1448);
    pool.free(m);
  });
});
