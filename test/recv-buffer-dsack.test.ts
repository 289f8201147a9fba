import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { OooQueue, RecvBuffer } from '../src/tcp/recv-buffer.js';
import type { Mbuf } from '../src/mbuf/index.js';

describe('tcp/recv-buffer: D-SACK when in-order data repeats held bytes (RFC 2883 §4)', () => {
  const blocks = (q: OooQueue): number[] => {
    const out = new Uint32Array(8);
    const n = q.sackBlocks(out, 4);
    return [...out.subarray(0, 2 * n)];
  };
  const seg = (pool: TsMempool, n: number): Mbuf => pool.fromBytes(new Uint8Array(n));

  it('names the repeated part of a held block, and nothing for a clean fill', () => {
    const pool = new TsMempool({ count: 64 });
    const q = new OooQueue(pool, 1 << 20);
    q.insert(pool, 200 as Seq, seg(pool, 100)); // 200:300 held
    q.insert(pool, 400 as Seq, seg(pool, 100)); // 400:500 held
    blocks(q); // report (and forget) the plain SACK state
    // In-order data 100:275 arrived: RCV.NXT is 275, 200:275 came twice.
    const ch = q.drain(275);
    expect(pool.pktLen(ch)).to.equal(25);
    pool.free(ch);
    expect(blocks(q).slice(0, 2)).to.deep.equal([200, 275]);
    // A clean fill up to 400: no D-SACK.
    const ch2 = q.drain(400);
    expect(pool.pktLen(ch2)).to.equal(100);
    pool.free(ch2);
    expect(q.hasDsack).to.equal(false);
    expect(q.drain(500)).to.equal(NO_MBUF);
    q.clear();
    expect(pool.inUse()).to.equal(0);
  });

  it('keeps a D-SACK block already waiting when a covered block does not touch it', () => {
    const pool = new TsMempool({ count: 64 });
    const q = new OooQueue(pool, 1 << 20);
    q.insert(pool, 400 as Seq, seg(pool, 100));
    q.dsack(1, 300); // the input path found 1:300 old
    const ch = q.drain(800); // 400:500 wholly covered by new in-order data
    expect(ch).to.equal(NO_MBUF);
    expect(blocks(q).slice(0, 2)).to.deep.equal([1, 300]);
    expect(pool.inUse()).to.equal(0);
  });

  it('RecvBuffer.peek copies without consuming, across chains', () => {
    const pool = new TsMempool({ count: 16 });
    const rb = new RecvBuffer(pool);
    rb.push(pool.fromBytes(Uint8Array.from([1, 2, 3])));
    rb.push(pool.fromBytes(Uint8Array.from([4, 5])));
    const a = new Uint8Array(4);
    expect(rb.peek(a)).to.equal(4);
    expect([...a]).to.deep.equal([1, 2, 3, 4]);
    expect(rb.length).to.equal(5);
    expect([...rb.readBytes()]).to.deep.equal([1, 2, 3, 4, 5]);
    expect(pool.inUse()).to.equal(0);
  });
});
