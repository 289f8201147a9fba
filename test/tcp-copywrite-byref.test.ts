/**
 * The copying write's full mbufs are the send buffer's own
 * (SendBuffer.pushOwn) and a segment covering one leaves as that very mbuf,
 * by reference (Mempool.refForTx: refcnt 2, no new mbuf): the receiver of
 * the same process then holds, trims, chains and frees the sender's buffer
 * while the sender may still retransmit from it (slices from the recorded
 * payload position, never from the mbuf's fields) and drop its own
 * reference (Mempool.releaseRef, never following a chain the receiver
 * made). Checked here under loss, reordering and duplication, with a
 * receiver that reads late: bytes exact, frames of one mbuf, no leak.
 */
import { expect } from 'chai';
import { copyWrite } from '../src/tcp/zc.js';
import { TcpState } from '../src/tcp/state.js';
import { Prng } from '../src/util/prng.js';
import { IP_B, TcpPair, pattern } from './tcp-harness.js';
import { pinnedSeed } from './helpers/seed.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

describe('tcp/zc: copyWrite sends its own buffers by reference', () => {
  for (const s of [1, 2, 3, pinnedSeed(91)]) {
    for (const lazy of [false, true]) {
      it(`byte-exact under loss, reordering and duplication, every mbuf returned (seed ${s}${lazy ? ', receiver reads late' : ''})`, function () {
        this.timeout(60000);
        const prng = new Prng(s);
        const p = new TcpPair({ checksumUnneeded: false, a: { timeWaitMs: 2000, sndBuf: 96 * 1024 }, b: { timeWaitMs: 2000, rcvBuf: 256 * 1024 } });
        let byRef = 0;
        let frames = 0;
        try {
          const l = p.b.listen(80);
          const c = p.a.connect(IP_B, 80);
          p.run(10);
          const server = l.accept()!;
          expect(server).to.not.equal(null);
          const sizes: number[] = [];
          for (let i = 0; i < 40; i++) sizes.push(1 + prng.int(i < 10 ? 70000 : 9000));
          const total = sizes.reduce((a, b) => a + b, 0);
          const data = pattern(total, s);
          let wo = 0;
          let wEnd = 0;
          let k = 0;
          const got: Uint8Array[] = [];
          let have = 0;
          const env = p.a.env as { output: (m: Mbuf, dst: Ip4, proto: number, tos: number) => void };
          const out = env.output;
          env.output = (m, dst, proto, tos) => {
            if (p.pool.pktLen(m) > 60) { frames++; if (p.pool.isDirect(m) && p.pool.refcnt(m) === 2) byRef++; }
            out(m, dst, proto, tos);
          };
          for (let i = 0; i < 40000 && have < total; i++) {
            if (k >= 8 && p.impair === undefined) p.impair = { prng, loss: 0.05, reorder: 0.05, dup: 0.03 };
            // One write at a time; what the buffer refuses is offered again on the next turn.
            while (k < sizes.length || wo < wEnd) {
              if (wo >= wEnd) wEnd = wo + sizes[k++];
              wo += copyWrite(c, data.subarray(wo, wEnd));
              if (wo < wEnd) break;
            }
            p.run(5);
            if (!lazy || i % 7 === 0) for (let d = server.read(); d; d = server.read()) { got.push(d); have += d.length; }
          }
          expect(Buffer.concat(got).equals(Buffer.from(data)), `seed ${s}: bytes`).to.equal(true);
          expect(byRef, 'segments sent by reference').to.be.greaterThan(frames / 2);
          const r = c.info().retransmits;
          if (process.env.DEBUG_BYREF) console.log({ s, lazy, frames, byRef, r, total });
          expect(r.rto + r.fast + r.tlp + r.rack, 'the impaired half retransmitted').to.be.greaterThan(0);
          p.impair = undefined;
          c.close();
          server.close();
          p.run(200000);
          expect(c.state).to.equal(TcpState.Closed);
        } finally {
          p.close();
        }
        expect(p.pool.inUse(), `seed ${s}: mbufs leaked`).to.equal(p.startInUse);
      });
    }
  }
});
