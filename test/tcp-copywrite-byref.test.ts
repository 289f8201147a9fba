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
import { pinnedSeed } from './helpers/seed.js';
import { impairedTransfer } from './helpers/impaired-transfer.js';

describe('tcp/zc: copyWrite sends its own buffers by reference', () => {
  for (const s of [1, 2, 3, pinnedSeed(91)]) {
    for (const lazy of [false, true]) {
      it(`byte-exact under loss, reordering and duplication, every mbuf returned (seed ${s}${lazy ? ', receiver reads late' : ''})`, function () {
        this.timeout(60000);
        let byRef = 0;
        let frames = 0;
        let wEnd = 0;
        const { total, retransmits } = impairedTransfer({
          seed: s,
          pair: { a: { timeWaitMs: 2000, sndBuf: 96 * 1024 }, b: { timeWaitMs: 2000, rcvBuf: 256 * 1024 } },
          turns: 40000,
          readEvery: lazy ? 7 : 1,
          tap: (m, p) => { frames++; if (p.pool.isDirect(m) && p.pool.refcnt(m) === 2) byRef++; },
          // One write at a time; what the buffer refuses is offered again on the next turn.
          write: (c, w) => {
            while (w.k < w.sizes.length || w.wo < wEnd) {
              if (w.wo >= wEnd) wEnd = w.wo + w.sizes[w.k++];
              w.wo += copyWrite(c, w.data.subarray(w.wo, wEnd));
              if (w.wo < wEnd) break;
            }
          },
        });
        if (process.env.DEBUG_BYREF) console.log({ s, lazy, frames, byRef, r: retransmits, total });
        expect(byRef, 'segments sent by reference').to.be.greaterThan(frames / 2);
      });
    }
  }
});
