import { expect } from 'chai';
import fc from 'fast-check';
import { TsMempool } from '../src/mbuf/index.js';
import { SendBuffer } from '../src/tcp/send-buffer.js';
import { allocTxMbuf } from '../src/tcp/zc.js';
import { pinnedSeed } from './helpers/seed.js';

/**
 * SendBuffer.slice keeps a segment cursor so that MSS-sized slices taken in
 * order from a long zero-copy chain do not walk it from its head each time.
 * This drives it the way output does (mostly in order, sometimes a
 * retransmission from an earlier offset, acks in between, partly acked
 * multi-segment chains) and checks every slice byte for byte against a model.
 */
describe('tcpx/send-buffer: slice cursor', () => {
  const seed = pinnedSeed(8);
  it(`in-order slices, retransmissions and partial acks give the model bytes (seed ${seed})`, () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('push' as const), len: fc.integer({ min: 1, max: 5000 }) }),
      fc.record({ k: fc.constant('next' as const), len: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ k: fc.constant('rtx' as const), back: fc.nat(3000), len: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ k: fc.constant('ack' as const), n: fc.nat(2500) }),
    );
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), fc.integer({ min: 0, max: 255 }), (ops, salt) => {
      // A small data room: a 5000-byte message is a chain of ~20 segments.
      const pool = new TsMempool({ count: 4096, dataRoom: 200 });
      const sb = new SendBuffer(pool);
      const model: number[] = [];
      let una = 0; // model index of SND.UNA
      let sent = 0; // offset from SND.UNA of the next new byte
      let fill = salt;
      for (const o of ops) {
        if (o.k === 'push') {
          const m = allocTxMbuf(pool, o.len);
          expect(m).to.be.at.least(0);
          const b = new Uint8Array(o.len);
          for (let i = 0; i < o.len; i++) { b[i] = fill & 0xff; fill = (fill * 13 + 7) & 0xffff; }
          pool.copyIn(m, 0, b);
          sb.push(m);
          for (const x of b) model.push(x);
        } else if (o.k === 'ack') {
          const n = Math.min(o.n, sb.length);
          expect(sb.ack(n)).to.equal(n);
          una += n;
          sent = Math.max(0, sent - n);
        } else {
          const off = o.k === 'next' ? sent : Math.max(0, sent - o.back);
          const len = Math.min(o.len, sb.length - off);
          if (len <= 0) continue;
          const s = sb.slice(pool, off, len);
          expect(s).to.be.at.least(0);
          expect(pool.pktLen(s)).to.equal(len);
          expect(pool.countSegs(s)).to.equal(pool.nbSegs(s));
          const out = new Uint8Array(len);
          pool.copyOut(s, 0, out, 0, len);
          expect(Array.from(out)).to.deep.equal(model.slice(una + off, una + off + len));
          pool.free(s);
          sent = Math.max(sent, off + len);
        }
      }
      sb.clear();
      expect(pool.inUse()).to.equal(0);
    }), { numRuns: 200, seed });
  });
});
