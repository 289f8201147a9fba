import type { Seq } from '../src/tcp/seq.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { SackScoreboard, SeqRangeSet, NextSegKind } from '../src/tcp/sack.js';
import { pinnedSeed } from './helpers/seed.js';

const MSS = 1000;
const blocks = new Uint32Array(8);

/** ACK with SACK blocks given as [start, end] pairs relative to `base`. */
function ack(sb: SackScoreboard, base: number, cum: number, sacks: Array<[number, number]>, sndNxt: number): boolean {
  sacks.forEach(([s, e], i) => { blocks[2 * i] = (base + s) >>> 0; blocks[2 * i + 1] = (base + e) >>> 0; });
  return sb.update(((base + cum) >>> 0) as Seq, blocks, sacks.length, ((base + sndNxt) >>> 0) as Seq);
}

/**
 * RFC 6675 §5 step (C): while cwnd − pipe ≥ SMSS, send NextSeg().
 * Returns the transmissions as "kind@offset" strings (offsets relative to base).
 */
function sendLoop(sb: SackScoreboard, base: number, cwnd: number, newData: { avail: number }): string[] {
  const out: string[] = [];
  for (let guard = 0; guard < 100 && cwnd - sb.pipe() >= MSS; guard++) {
    const kind = sb.nextSeg(newData.avail);
    if (kind === NextSegKind.None) break;
    const rel = (sb.segStart - base) >>> 0;
    out.push(`${['none', 'lost', 'new', 'unsacked'][kind]}@${rel}+${sb.segLen}`);
    if (kind === NextSegKind.NewData) newData.avail -= sb.segLen;
    sb.onTransmit(kind, sb.segStart, sb.segLen);
  }
  return out;
}

for (const base of [0, 0xfffff000]) {
  describe(`sack scoreboard (RFC 6675), ISS ${base.toString(16)}`, () => {
    it('single loss: 3 dup-ACKs enter recovery, the hole is retransmitted once, then new data', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10 * MSS) >>> 0) as Seq); // segments 0..9 sent; segment 2 lost
      expect(ack(sb, base, 2000, [], 10000)).to.equal(false);
      expect(sb.ackedBytes).to.equal(2000);
      expect(ack(sb, base, 2000, [[3000, 4000]], 10000)).to.equal(true);
      expect(sb.shouldEnterRecovery()).to.equal(false);
      expect(sb.isLost(((base + 2000) >>> 0) as Seq)).to.equal(false);
      ack(sb, base, 2000, [[3000, 5000]], 10000);
      expect(sb.isLost(((base + 2000) >>> 0) as Seq)).to.equal(false); // 2·SMSS is not "more than"
      ack(sb, base, 2000, [[3000, 6000]], 10000);
      expect(sb.dupAcks).to.equal(3);
      expect(sb.isLost(((base + 2000) >>> 0) as Seq)).to.equal(true);
      expect(sb.shouldEnterRecovery()).to.equal(true);
      sb.enterRecovery();
      expect(sb.recoveryPoint).to.equal((base + 10000) >>> 0);
      // pipe: the lost hole counts 0, the 4 segments above the SACKs count
      expect(sb.pipe()).to.equal(4000);
      const nd = { avail: 100 * MSS };
      // cwnd = ssthresh = FlightSize/2 = 4000 (8 segments in flight at entry)
      expect(sendLoop(sb, base, 5000, nd)).to.deep.equal(['lost@2000+1000']);
      expect(sb.pipe()).to.equal(5000);
      // the rest of the window arrives (SACKs), each frees room for new data
      ack(sb, base, 2000, [[3000, 7000]], 10000);
      expect(sendLoop(sb, base, 5000, nd)).to.deep.equal(['new@10000+1000']);
      ack(sb, base, 2000, [[3000, 8000]], 11000);
      expect(sendLoop(sb, base, 5000, nd)).to.deep.equal(['new@11000+1000']);
      // the retransmission arrives: cumulative ACK to 10000
      ack(sb, base, 10000, [], 12000);
      expect(sb.ackedBytes).to.equal(8000);
      expect(sb.recoveryDone()).to.equal(true);
      sb.exitRecovery();
      expect(sb.sacked.count).to.equal(0);
      expect(sb.pipe()).to.equal(2000);
    });

    it('burst loss: three consecutive segments retransmitted in order', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10000) >>> 0) as Seq); // segments 2, 3, 4 lost
      ack(sb, base, 2000, [], 10000);
      ack(sb, base, 2000, [[5000, 6000]], 10000);
      ack(sb, base, 2000, [[5000, 7000]], 10000);
      ack(sb, base, 2000, [[5000, 8000]], 10000);
      expect(sb.shouldEnterRecovery()).to.equal(true);
      sb.enterRecovery();
      expect(sb.pipe()).to.equal(2000);
      expect(sendLoop(sb, base, 5000, { avail: 0 })).to.deep.equal(['lost@2000+1000', 'lost@3000+1000', 'lost@4000+1000']);
      // nothing more: rule 3 finds nothing unSACKed below the highest SACK (no rule 4 rescue: the tail is RACK-TLP's)
      expect(sendLoop(sb, base, 100000, { avail: 0 })).to.deep.equal([]);
    });

    it('two holes: rule 1 sends lost holes in order, rule 3 fills with unSACKed data', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 12000) >>> 0) as Seq); // lost: 1, 6; SACKed: 2..5, 7
      ack(sb, base, 1000, [[7000, 8000], [2000, 6000]], 12000);
      sb.enterRecovery();
      // hole [1000,2000): 2 ranges, 5000 bytes above -> lost; hole [6000,7000): 1 range, 1000 bytes -> not lost
      expect(sb.isLost(((base + 1000) >>> 0) as Seq)).to.equal(true);
      expect(sb.isLost(((base + 6000) >>> 0) as Seq)).to.equal(false);
      expect(sendLoop(sb, base, 100000, { avail: 0 })).to.deep.equal(['lost@1000+1000', 'unsacked@6000+1000']);
    });

    it('tail loss: the hole is resent, the lost last segment is left to RACK-TLP (no rescue)', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10000) >>> 0) as Seq); // lost: 2 and 9 (the last)
      ack(sb, base, 2000, [], 10000);
      ack(sb, base, 2000, [[3000, 4000]], 10000);
      ack(sb, base, 2000, [[3000, 5000]], 10000);
      ack(sb, base, 2000, [[3000, 6000]], 10000);
      ack(sb, base, 2000, [[3000, 9000]], 10000);
      sb.enterRecovery();
      expect(sendLoop(sb, base, 5000, { avail: 0 })).to.deep.equal(['lost@2000+1000']);
      // the retransmission of 2 fills the hole: ACK to 9000, the tail delivered next (by a probe)
      ack(sb, base, 9000, [], 10000);
      expect(sb.recoveryDone()).to.equal(false);
      ack(sb, base, 10000, [], 10000);
      expect(sb.recoveryDone()).to.equal(true);
    });

    it('tail loss of the whole flight: RTO marks everything lost, retransmitted in order skipping SACKed data', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 6000) >>> 0) as Seq);
      ack(sb, base, 2000, [[4000, 5000]], 6000); // 2, 3 and 5 lost; no recovery (1 SACK)
      expect(sb.shouldEnterRecovery()).to.equal(false);
      sb.onRto();
      expect(sb.pipe()).to.equal(0);
      const nd = { avail: 0 };
      expect(sendLoop(sb, base, 1000, nd)).to.deep.equal(['lost@2000+1000']);
      ack(sb, base, 3000, [[4000, 5000]], 6000);
      expect(sendLoop(sb, base, 2000, nd)).to.deep.equal(['lost@3000+1000', 'lost@5000+1000']);
      // no new recovery before RecoveryPoint is ACKed (RFC 6675 §5.1)
      ack(sb, base, 3000, [[4000, 5000], [6000, 6000]], 6000);
      expect(sb.shouldEnterRecovery()).to.equal(false);
      ack(sb, base, 6000, [], 6000);
      expect(sb.pipe()).to.equal(0);
    });

    it('lost retransmission: RACK marks it lost again and rule 1 resends it', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10000) >>> 0) as Seq);
      ack(sb, base, 2000, [[3000, 6000]], 10000);
      sb.enterRecovery();
      expect(sendLoop(sb, base, 5000, { avail: 0 })).to.deep.equal(['lost@2000+1000']);
      ack(sb, base, 2000, [[3000, 10000]], 10000);
      expect(sb.pipe()).to.equal(1000); // only the retransmission is in flight
      // not again until it is marked lost (no rule 4 rescue)
      expect(sendLoop(sb, base, 5000, { avail: 0 })).to.deep.equal([]);
      sb.markLost(((base + 2000) >>> 0) as Seq, ((base + 3000) >>> 0) as Seq); // RACK: the retransmission was lost
      expect(sb.pipe()).to.equal(0);
      expect(sendLoop(sb, base, 5000, { avail: 0 })).to.deep.equal(['lost@2000+1000']);
      ack(sb, base, 10000, [], 10000);
      expect(sb.recoveryDone()).to.equal(true);
    });

    it('detects D-SACK (RFC 2883): below the cumulative ACK, or inside the second block', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10000) >>> 0) as Seq);
      ack(sb, base, 3000, [[1000, 2000]], 10000);
      expect(sb.dsack).to.equal(true);
      expect(sb.dsackStart).to.equal((base + 1000) >>> 0);
      expect(sb.sacked.count).to.equal(0);
      ack(sb, base, 3000, [[5000, 6000], [4000, 7000]], 10000);
      expect(sb.dsack).to.equal(true);
      expect(sb.newlySacked).to.equal(3000);
      ack(sb, base, 3000, [[8000, 9000], [4000, 7000]], 10000);
      expect(sb.dsack).to.equal(false);
      expect(sb.newlySacked).to.equal(1000);
      expect(sb.dsacksReceived).to.equal(2);
    });

    it('ignores nonsense blocks: empty, reversed, beyond SND.NXT, entirely acknowledged', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 10000) >>> 0) as Seq);
      ack(sb, base, 2000, [[5000, 5000], [6000, 5000], [9000, 11000], [0x40000000, 0x40001000]], 10000);
      expect(sb.sacked.count).to.equal(0);
      expect(sb.invalidBlocks).to.equal(4);
      ack(sb, base, 2000, [[3000, 4000], [1500, 2500]], 10000); // partly acknowledged: trimmed
      expect(sb.sacked.count).to.equal(2);
      expect(sb.sackedBytes()).to.equal(1500);
      expect(sb.pipe()).to.equal(8000 - 1500);
    });

    it('keeps at most 64 ranges under a pathological SACK pattern', () => {
      const sb = new SackScoreboard(MSS, base as Seq);
      sb.onSendNew(((base + 300 * MSS) >>> 0) as Seq);
      for (let i = 0; i < 140; i++) ack(sb, base, 0, [[(2 * i + 1) * MSS, (2 * i + 2) * MSS]], 300 * MSS);
      expect(sb.sacked.count).to.equal(64);
      expect(sb.sacked.overflows).to.be.greaterThan(0);
      expect(sb.pipe()).to.be.at.most(300 * MSS);
      sb.enterRecovery();
      expect(sendLoop(sb, base, 1e9, { avail: 0 })[0]).to.equal('lost@0+1000');
    });
  });
}

describe('SeqRangeSet', () => {
  const sackSeed = pinnedSeed(314_159_265, 'FC_SEED');
  it(`matches a bitmap model under random add/remove/trim (property, seed ${sackSeed})`, () => {
    const N = 200;
    const op = fc.oneof(
      fc.record({ k: fc.constant('add'), a: fc.nat(N), len: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ k: fc.constant('remove'), a: fc.nat(N), len: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ k: fc.constant('trim'), a: fc.nat(N), len: fc.constant(0) }),
    );
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(op, { maxLength: 60 }), (base, ops) => {
      const set = new SeqRangeSet(256);
      const model = new Uint8Array(N + 40);
      let floor = 0;
      for (const o of ops) {
        const a = o.a, b = Math.min(o.a + o.len, N + 39);
        if (o.k === 'add') {
          if (a < floor) continue;
          let fresh = 0;
          for (let x = a; x < b; x++) { if (!model[x]) fresh++; model[x] = 1; }
          expect(set.add(((base + a) >>> 0) as Seq, ((base + b) >>> 0) as Seq)).to.equal(fresh);
        } else if (o.k === 'remove') {
          let gone = 0;
          for (let x = a; x < b; x++) { if (model[x]) gone++; model[x] = 0; }
          expect(set.remove(((base + a) >>> 0) as Seq, ((base + b) >>> 0) as Seq)).to.equal(gone);
        } else {
          if (a < floor) continue;
          for (let x = 0; x < a; x++) model[x] = 0;
          floor = a;
          set.trimBelow(((base + a) >>> 0) as Seq);
        }
        // ranges disjoint, non-adjacent, ascending, equal to the model
        const seen = new Uint8Array(N + 40);
        for (let i = 0; i < set.count; i++) {
          const s = (set.start(i) - base) >>> 0, e = (set.end(i) - base) >>> 0;
          expect(s).to.be.lessThan(e);
          if (i > 0) expect(s).to.be.greaterThan((set.end(i - 1) - base) >>> 0);
          for (let x = s; x < e; x++) seen[x] = 1;
        }
        expect([...seen]).to.deep.equal([...model]);
        const q0 = floor + (o.a % 50), q1 = q0 + 37;
        let cov = 0;
        for (let x = q0; x < q1; x++) cov += model[x] ?? 0;
        expect(set.covered((base + q0) >>> 0, (base + q1) >>> 0)).to.equal(cov);
        let g = q0;
        while (g < q1 && model[g]) g++;
        expect((set.firstGap((base + q0) >>> 0, ((base + q1) >>> 0) as Seq) - base) >>> 0).to.equal(g);
      }
    }), { seed: sackSeed, numRuns: 300 });
  });
});
