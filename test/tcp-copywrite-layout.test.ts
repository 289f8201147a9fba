/**
 * The copying write() (src/tcp/zc.ts copyWrite) lays out one MSS of payload
 * per mbuf after TX_HEADROOM, so each full segment leaves as ONE mbuf with
 * its headers in that mbuf's headroom; and tcpOutput sends the full-sized
 * new-data segments of a flight as a batch (sendBurst). Checked here: the
 * segments a bulk copying write makes are single mbufs (no header mbuf, no
 * slices), byte-exact at the receiver, PSH only where a write ends, every
 * mbuf returned.
 */
import { expect } from 'chai';
import { NO_MBUF } from '../src/mbuf/mempool.js';
import { copyWrite } from '../src/tcp/zc.js';
import { IP_B, TcpPair, pattern } from './tcp-harness.js';
import { TcpFlag } from '../src/tcp/header.js';
import type { Mbuf } from '../src/mbuf/index.js';

describe('tcp/zc: copyWrite layout and batched output', () => {
  for (const sack of [true, false]) {
    it(`bulk copying writes: one mbuf per full segment, bytes exact, PSH at write ends (SACK ${sack ? 'on' : 'off'})`, () => {
      const p = new TcpPair({ checksumUnneeded: false, a: { sack, noDelay: true }, b: { sack } });
      try {
        const l = p.b.listen(80);
        const c = p.a.connect(IP_B, 80);
        p.deliver();
        const s = l.accept()!;
        expect(s).to.not.equal(null);
        const mss = c.mss;
        // Count each data frame's mbufs as it leaves (before the peer consumes it).
        const segsPerFrame: number[] = [];
        const pool = p.pool;
        const orig = (p.a as unknown as { env: { output: (m: Mbuf, d: number, pr: number, t: number) => void } }).env;
        const out = orig.output;
        orig.output = (m, d, pr, t) => { if (pool.pktLen(m) > 40) segsPerFrame.push(pool.nbSegs(m)); out(m, d, pr, t); };
        const sizes = [20000, 7000, 100, 100, 33333];
        const want: number[] = [];
        const got: number[] = [];
        s.onReadable = () => { for (let m = s.readMbuf(); m !== NO_MBUF; m = s.readMbuf()) { for (const b of pool.toBytes(m)) got.push(b); pool.free(m); } };
        let k = 0;
        for (const n of sizes) {
          const data = pattern(n, ++k);
          for (const b of data) want.push(b);
          let off = 0;
          while (off < n) {
            const w = copyWrite(c, off === 0 ? data : data.subarray(off));
            off += w;
            p.deliver();
            if (w === 0) p.run(10);
          }
        }
        for (let i = 0; i < 50 && got.length < want.length; i++) p.run(50);
        expect(got.length).to.equal(want.length);
        expect(Buffer.from(got).equals(Buffer.from(want))).to.equal(true);
        const full = segsPerFrame.length;
        expect(full).to.be.greaterThan(40);
        // All but a few (short segments at write ends may start inside an mbuf) are one mbuf.
        const multi = segsPerFrame.filter((x) => x > 1).length;
        expect(multi, `frames of more than one mbuf: ${multi} of ${full}`).to.be.at.most(sizes.length);
        const data = p.log.filter((w) => w.from === 'a' && w.len > 0);
        for (const w of data) if (w.len < mss && (w.flags & TcpFlag.PSH) === 0) throw new Error(`short segment without PSH: ${w.len}`);
        expect(p.a.counters.bytesCopied).to.equal(want.length);
        c.close();
        s.close();
        p.run(1000);
      } finally {
        p.close();
      }
      expect(p.pool.inUse() - p.startInUse, 'mbufs leaked').to.equal(0);
    });
  }
});
