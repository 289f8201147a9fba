import { expect } from 'chai';
import { TcpPair, IP_B, pattern } from './tcp-harness.js';
import { TcpState } from '../src/tcp/state.js';
import { Prng } from '../src/util/prng.js';
import { pinnedSeed } from './helpers/seed.js';

describe('tcp: seeded loss, reordering and duplication on the memory pair', () => {
  // Found failures kept as fixed seeds: 6 pure ACKs after go-back-N (SND.MAX), 125 TIME-WAIT ACK ping-pong,
  // 607/683 RTT inflated by echoes of pre-retransmission timestamps. The last run's seed is pinned too
  // (TZSTACK_SEED explores others: a failure found that way joins the list above).
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8, 125, 607, 683, pinnedSeed(20261)];
  for (const seed of seeds) {
    it(`moves random payloads byte-exact both ways and closes cleanly (seed ${seed})`, function () {
      this.timeout(60000);
      const prng = new Prng(seed);
      const loss = prng.float() * 0.2;
      const p = new TcpPair({ a: { timeWaitMs: 2000 }, b: { timeWaitMs: 2000 } });
      try {
        p.impair = { prng, loss, reorder: prng.float() * 0.1, dup: prng.float() * 0.05 };
        const l = p.b.listen(80);
        const c = p.a.connect(IP_B, 80);
        let s = l.accept();
        for (let i = 0; i < 200 && s === null; i++) { p.run(50); s = l.accept(); }
        expect(s, `seed ${seed}: accepted`).to.not.equal(null);
        const server = s!;
        const up = pattern(20000 + prng.int(200000), seed);
        const down = pattern(20000 + prng.int(100000), seed + 1);
        let uo = 0; let dn = 0;
        const gu: Uint8Array[] = []; const gd: Uint8Array[] = [];
        let upLen = 0; let downLen = 0;
        for (let i = 0; i < 20000 && (upLen < up.length || downLen < down.length); i++) {
          uo += c.write(up.subarray(uo));
          dn += server.write(down.subarray(dn));
          p.run(20);
          for (let d = server.read(); d; d = server.read()) { gu.push(d); upLen += d.length; }
          for (let d = c.read(); d; d = c.read()) { gd.push(d); downLen += d.length; }
        }
        expect(Buffer.concat(gu).equals(Buffer.from(up)), `seed ${seed}: upload`).to.equal(true);
        expect(Buffer.concat(gd).equals(Buffer.from(down)), `seed ${seed}: download`).to.equal(true);
        c.close();
        server.close();
        p.run(200000);
        expect(c.state, `seed ${seed}: client closed`).to.equal(TcpState.Closed);
        expect(server.state, `seed ${seed}: server closed`).to.equal(TcpState.Closed);
        expect(p.a.nextDeadline()).to.equal(Infinity);
        expect(p.b.nextDeadline()).to.equal(Infinity);
      } finally {
        p.close();
      }
      expect(p.pool.inUse(), `seed ${seed}: mbufs leaked`).to.equal(p.startInUse);
    });
  }
});
