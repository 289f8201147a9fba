import { expect } from 'chai';
import { TsMempool, NO_MBUF } from '../src/mbuf/index.js';
import { MbufLayout } from '../src/mbuf/layout.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';
import { allocTxMbuf } from '../src/tcp/zc.js';
import { TcpState } from '../src/tcp/state.js';
import type { TcpConnection } from '../src/tcp/connection.js';

/**
 * TCP to our own address goes through src/loopback.ts. Zero-copy writes laid
 * out one MSS per mbuf leave as ONE indirect mbuf per segment (headers in the
 * application buffer's headroom): the loopback must keep the indirect bit of
 * ol_flags when it marks the segment as received, or freeing it would not
 * drop the reference on the application's buffer (a leak of every buffer).
 */
describe('loopback: zero-copy writes to our own address', () => {
  it('returns every mbuf (indirect segments keep their INDIRECT flag)', async () => {
    const pool = new TsMempool({ count: 1024 });
    const clock = new VirtualClock(0);
    const [a, b] = createLinkPair(pool);
    const s = new Stack({ port: a, ip: '10.73.0.1/24', clock });
    const l = s.tcp.listen(7001);
    let got = 0;
    let rx: TcpConnection | undefined;
    l.onConnection = (c) => {
      rx = c;
      c.onReadable = () => { for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) { got += pool.pktLen(m); pool.free(m); } };
    };
    const tx = s.tcp.connect(s.localIp, 7001);
    const pump = (n: number): void => { for (let i = 0; i < n; i++) { s.poll(); clock.advance(1); } };
    pump(10);
    expect(tx.state).to.equal(TcpState.Established);
    let sent = 0;
    let indirectSeen = 0;
    const want = 20 * 8192;
    for (let guard = 0; guard < 2000 && got < want; guard++) {
      while (sent < want && tx.sendSpace() >= 8192) {
        const m = allocTxMbuf(pool, 8192, tx.mss);
        expect(m).to.not.equal(NO_MBUF);
        pool.u8.fill(0x5a, pool.mtod(m), pool.mtod(m) + pool.dataLen(m));
        if (!tx.writeMbuf(m)) { pool.free(m); break; }
        sent += 8192;
      }
      pump(1);
    }
    expect(got).to.equal(want);
    // The headRef path was taken (one indirect mbuf per segment), else this test proves nothing.
    indirectSeen = s.tcp.counters.tx;
    expect(indirectSeen).to.be.greaterThan(100);
    expect(s.tcp.counters.bytesCopied).to.equal(0);
    tx.close();
    rx?.close();
    pump(200);
    await s.close();
    b.close(); // the peer port never polled: what the stack sent it (ARP) is freed here
    expect(pool.inUse(), 'mbufs leaked').to.equal(0);
  });

  it('keeps the INDIRECT and EXTERNAL bits of ol_flags of a looped segment', async () => {
    const pool = new TsMempool({ count: 64 });
    const clock = new VirtualClock(0);
    const [a, b] = createLinkPair(pool);
    const s = new Stack({ port: a, ip: '10.73.0.2/24', clock });
    const d = pool.alloc();
    pool.setDataLen(d, 100);
    pool.setPktLen(d, 100);
    const mi = pool.alloc();
    pool.attach(mi, d);
    pool.setOlFlags(mi, 0, pool.olFlagsHi(mi) | MbufLayout.OL_TX_TCP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI);
    s.loopback.send4(mi, 0);
    expect(pool.olFlagsHi(mi) & MbufLayout.OL_INDIRECT_HI).to.not.equal(0);
    expect(pool.olFlagsHi(mi) & (MbufLayout.OL_TX_TCP_CKSUM_HI | MbufLayout.OL_TX_IPV4_HI)).to.equal(0);
    expect(pool.olFlagsLo(mi)).to.equal(MbufLayout.OL_RX_L4_CKSUM_GOOD_LO);
    s.loopback.close();
    pool.free(d);
    await s.close();
    b.close(); // the peer port never polled: what the stack sent it (ARP) is freed here
    expect(pool.inUse(), 'mbufs leaked').to.equal(0);
  });
});
