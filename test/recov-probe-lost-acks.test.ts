/**
 * A probe in SACK recovery when the ACKs of the last flight are all lost.
 *
 * Found with pcaps on both sides of `test/interop-loss.test.ts` (5 % loss
 * both ways): every 200 ms stall there was Linux's cumulative ACK (often the
 * only ACK Linux sent for a whole flight: it acknowledges on application
 * reads) dropped by the receive-side impairment while tzstack was in SACK
 * recovery, where RFC 8985 §7.2 (and Linux) arm no tail loss probe; Linux
 * had nothing more to say, so only the RTO broke the silence. FreeBSD's
 * RACK stack arms the probe in recovery too (its `activate_tlp` path): one
 * segment after a PTO without any ACK makes the peer tell what it holds.
 */
import { expect } from 'chai';
import { TcpPair, pattern, pump } from './tcp-harness.js';
import { established } from './helpers/handshake.js';

const MSS = 1448;

describe('recov: probe in SACK recovery after the flight\'s ACKs are lost', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });


  for (const n of [10]) {
    it(`${n} segments, one lost, the ACK after its repair lost: a probe, not the RTO, ends recovery`, () => {
      p = new TcpPair({ a: { cc: 'newreno' }, b: {} });
      const { client, server } = established(p);
      const iss = p.log[0].seq;
      const end = (iss + 1 + n * MSS) >>> 0;
      let dataIdx = 0;
      let repaired = false;
      let silenceOver = false;
      let acksDropped = 0;
      p.dropIf = (s) => {
        if (s.from === 'a' && s.len > 0) {
          if (repaired) silenceOver = true; // a spoke again: probe or RTO
          if (((s.seq - iss - 1) >>> 0) === 4 * MSS && dataIdx > 4) repaired = true;
          return dataIdx++ === 4; // segment 4's first transmission
        }
        // Every ACK from b for the whole transfer (the one sent when the hole
        // is filled, window updates after reads) until a sends again: the
        // peer has all the data and nothing more to say.
        if (s.from === 'b' && s.ack === end && !silenceOver) { acksDropped++; return true; }
        return false;
      };
      const data = pattern(n * MSS, 9);
      const got = pump(p, client, server, data, 1, 5000);
      expect(got.equals(Buffer.from(data)), 'byte-exact').to.equal(true);
      // Until a's side has the final ACK too.
      for (let i = 0; i < 2000 && client.info().sndUna !== client.info().sndNxt; i++) { p.deliver(); p.run(1); }
      const info = client.info();
      expect(acksDropped, 'the scenario happened').to.be.greaterThan(0);
      expect(info.loss.recoveries).to.equal(1);
      expect(info.loss.rtoEvents, 'no RTO').to.equal(0);
      expect(info.loss.tlpProbes, 'a probe').to.be.greaterThan(0);
      expect(info.sndUna).to.equal(info.sndNxt);
      expect(info.inRecovery).to.equal(false);
    });
  }
});
