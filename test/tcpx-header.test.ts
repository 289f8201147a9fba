import { expect } from 'chai';
import fc from 'fast-check';
import { NO_MBUF, TsMempool } from '../src/mbuf/index.js';
import {
  ACK, FIN, PSH, RST, SYN, TCP_CHECKSUM, TCP_MIN_HDR, TcpParseError, TcpSegment, parseTcp, setTcpChecksum,
  setTcpPseudoChecksum, tcpChecksumOk, tcpParseErrorName, writeTcpHeader,
} from '../src/tcp/header.js';
import {
  dataOptionsLength, optionsLength, synOptionsLength, writeDataOptions, writeSynOptions, type SynOptions,
} from '../src/tcp/options.js';
import { finish, fold, pseudoHeaderSum, sumBytes } from '../src/ip/checksum.js';
import type { Ip4 } from '../src/ip/addr.js';

const SRC = 0x0a000001 as Ip4;
const DST = 0x0a000002 as Ip4;

/** A header with the given option bytes (padded to 4 with EOL) and payload. */
function segBytes(opts: number[], payload: Uint8Array = new Uint8Array(0), flags = ACK, dataOffWords?: number): Uint8Array {
  const ol = (opts.length + 3) & ~3;
  const b = new Uint8Array(20 + ol + payload.length);
  const dv = new DataView(b.buffer);
  writeTcpHeader(dv, 0, 1234, 80, 1000, 2000, flags, 512, 20 + ol);
  if (dataOffWords !== undefined) b[12] = dataOffWords << 4;
  b.set(opts, 20);
  b.set(payload, 20 + ol);
  return b;
}

describe('tcpx/header', () => {
  const pool = new TsMempool({ count: 64 });
  const seg = new TcpSegment();
  afterEach(() => expect(pool.inUse()).to.equal(0));

  function parse(b: Uint8Array): TcpParseError | 0 {
    const m = pool.fromBytes(b);
    try { return parseTcp(pool, m, seg); } finally { pool.free(m); }
  }

  it('parses the fixed fields', () => {
    expect(parse(segBytes([], Uint8Array.of(1, 2, 3), ACK | PSH))).to.equal(0);
    expect(seg.srcPort).to.equal(1234);
    expect(seg.dstPort).to.equal(80);
    expect(seg.seq).to.equal(1000);
    expect(seg.ack).to.equal(2000);
    expect(seg.flags).to.equal(ACK | PSH);
    expect(seg.window).to.equal(512);
    expect(seg.hdrLen).to.equal(20);
    expect(seg.payloadLen).to.equal(3);
    expect(seg.mss).to.equal(0);
    expect(seg.wscale).to.equal(-1);
    expect(seg.hasTimestamps).to.equal(false);
    expect(seg.segLen()).to.equal(3);
  });

  it('round-trips random headers with SYN options', () => {
    fc.assert(fc.property(
      fc.record({
        sp: fc.nat(0xffff), dp: fc.nat(0xffff), seq: fc.nat({ max: 0xffffffff }), ack: fc.nat({ max: 0xffffffff }),
        win: fc.nat(0xffff), mss: fc.nat(0xffff), wscale: fc.integer({ min: -1, max: 14 }), sack: fc.boolean(),
        ts: fc.boolean(), tsVal: fc.nat({ max: 0xffffffff }), tsEcr: fc.nat({ max: 0xffffffff }),
        payload: fc.uint8Array({ maxLength: 100 }), fin: fc.boolean(),
      }),
      (r) => {
        const o: SynOptions = { mss: r.mss, wscale: r.wscale, sackPermitted: r.sack, hasTs: r.ts, tsVal: r.tsVal, tsEcr: r.tsEcr };
        const ol = synOptionsLength(o);
        expect(optionsLength(o, false, 0)).to.equal(ol);
        const b = new Uint8Array(20 + ol + r.payload.length);
        const dv = new DataView(b.buffer);
        const flags = SYN | (r.fin ? FIN : 0);
        writeTcpHeader(dv, 0, r.sp, r.dp, r.seq, r.ack, flags, r.win, 20 + ol);
        expect(writeSynOptions(dv, 20, o)).to.equal(ol);
        expect(ol % 4).to.equal(0);
        b.set(r.payload, 20 + ol);
        expect(parse(b)).to.equal(0);
        expect([seg.srcPort, seg.dstPort, seg.seq, seg.ack, seg.window, seg.flags]).to.deep.equal([r.sp, r.dp, r.seq, r.ack, r.win, flags]);
        expect(seg.hdrLen).to.equal(20 + ol);
        expect(seg.payloadLen).to.equal(r.payload.length);
        expect(seg.segLen()).to.equal(r.payload.length + 1 + (r.fin ? 1 : 0));
        expect(seg.mss).to.equal(r.mss);
        expect(seg.wscale).to.equal(r.wscale);
        expect(seg.sackPermitted).to.equal(r.sack);
        expect(seg.hasTimestamps).to.equal(r.ts);
        if (r.ts) expect([seg.tsVal, seg.tsEcr]).to.deep.equal([r.tsVal, r.tsEcr]);
      }));
  });

  it('round-trips data options with up to 4 SACK blocks (3 with timestamps)', () => {
    fc.assert(fc.property(
      fc.boolean(), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }),
      fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 12 }),
      (ts, tsVal, tsEcr, words) => {
        const n = words.length >> 1;
        const blocks = Uint32Array.from(words.slice(0, 2 * n));
        const ol = dataOptionsLength(ts, n);
        const b = new Uint8Array(20 + ol);
        const dv = new DataView(b.buffer);
        writeTcpHeader(dv, 0, 1, 2, 3, 4, ACK, 5, 20 + ol);
        expect(writeDataOptions(dv, 20, ts, tsVal, tsEcr, blocks, n)).to.equal(ol);
        expect(ol).to.be.at.most(40);
        expect(parse(b)).to.equal(0);
        const kept = Math.min(n, ts ? 3 : 4);
        expect(seg.sackCount).to.equal(kept);
        expect(Array.from(seg.sackBlocks.subarray(0, 2 * kept))).to.deep.equal(Array.from(blocks.subarray(0, 2 * kept)));
        expect(seg.hasTimestamps).to.equal(ts);
        if (ts) expect([seg.tsVal, seg.tsEcr]).to.deep.equal([tsVal, tsEcr]);
      }));
  });

  it('writes SYN options in Linux order', () => {
    const b = new Uint8Array(40);
    const dv = new DataView(b.buffer);
    let n = writeSynOptions(dv, 0, { mss: 1460, wscale: 7, sackPermitted: true, hasTs: true, tsVal: 0x01020304, tsEcr: 0 });
    expect(Array.from(b.subarray(0, n))).to.deep.equal([2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7]);
    b.fill(0);
    n = writeSynOptions(dv, 0, { mss: 1460, wscale: 7, sackPermitted: true, hasTs: false, tsVal: 0, tsEcr: 0 });
    expect(Array.from(b.subarray(0, n))).to.deep.equal([2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]);
    b.fill(0);
    n = writeSynOptions(dv, 0, { mss: 536, wscale: -1, sackPermitted: false, hasTs: true, tsVal: 9, tsEcr: 8 });
    expect(Array.from(b.subarray(0, n))).to.deep.equal([2, 4, 2, 0x18, 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 8]);
    b.fill(0);
    n = writeDataOptions(dv, 0, true, 1, 2, Uint32Array.of(10, 20), 1);
    expect(Array.from(b.subarray(0, n))).to.deep.equal([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20]);
  });

  describe('bad input', () => {
    it('rejects short segments', () => {
      expect(parse(new Uint8Array(19))).to.equal(TcpParseError.TooShort);
      expect(tcpParseErrorName(TcpParseError.TooShort)).to.equal('tooShort');
    });
    it('rejects data offset < 5 and past the segment', () => {
      for (let w = 0; w < 5; w++) expect(parse(segBytes([], undefined, ACK, w))).to.equal(TcpParseError.BadDataOffset);
      expect(parse(segBytes([], new Uint8Array(3), ACK, 6))).to.equal(TcpParseError.BadDataOffset);
      expect(parse(segBytes([], new Uint8Array(4), ACK, 6))).to.equal(0);
      expect(seg.payloadLen).to.equal(0);
      expect(parse(segBytes([], undefined, ACK, 15))).to.equal(TcpParseError.BadDataOffset);
    });
    it('rejects options of length 0 or 1 and options past the header', () => {
      expect(parse(segBytes([8, 0, 0, 0]))).to.equal(TcpParseError.BadOption);
      expect(parse(segBytes([30, 1, 0, 0]))).to.equal(TcpParseError.BadOption);
      expect(parse(segBytes([1, 1, 1, 8]))).to.equal(TcpParseError.BadOption); // kind with no room for a length
      expect(parse(segBytes([1, 1, 30, 3]))).to.equal(TcpParseError.BadOption); // 2 bytes left, length 3
      expect(parse(segBytes([8, 10, 0, 0, 0, 0, 0, 0]))).to.equal(TcpParseError.BadOption); // TS cut short
      // EOL stops parsing: garbage after it is padding
      expect(parse(segBytes([0, 0, 0, 8]))).to.equal(0);
      // an unknown kind with a sane length is skipped
      expect(parse(segBytes([30, 4, 0xaa, 0xbb, 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]))).to.equal(0);
      expect([seg.hasTimestamps, seg.tsVal, seg.tsEcr]).to.deep.equal([true, 7, 9]);
    });
    it('ignores known options of the wrong length, as Linux does', () => {
      expect(parse(segBytes([2, 5, 5, 0xb4, 0, 3, 4, 9, 0, 4, 3, 0, 8, 9, 0, 0, 0, 0, 0, 0, 0, 5, 3, 0], undefined, SYN))).to.equal(0);
      expect([seg.mss, seg.wscale, seg.sackPermitted, seg.hasTimestamps, seg.sackCount]).to.deep.equal([0, -1, false, false, 0]);
      expect(parse(segBytes([5, 6, 0, 0, 0, 0, 5, 17, ...new Array(15).fill(0)]))).to.equal(0);
      expect(seg.sackCount).to.equal(0);
    });
    it('counts each malformed-option case under its own name; a wrong-length option is skipped and the rest used', () => {
      const e = seg.optionErrors;
      const before = { ...e };
      const delta = () => ({
        lengthBelowTwo: e.lengthBelowTwo - before.lengthBelowTwo, pastHeader: e.pastHeader - before.pastHeader,
        wrongLength: e.wrongLength - before.wrongLength, unknownKind: e.unknownKind - before.unknownKind,
      });
      // TS of length 8 (wrong for its kind), then a good TS: the bad one is ignored, the good one read.
      expect(parse(segBytes([8, 8, 0, 0, 0, 1, 0, 0, 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]))).to.equal(0);
      expect([seg.hasTimestamps, seg.tsVal, seg.tsEcr]).to.deep.equal([true, 7, 9]);
      // A SACK of length 11 (not 2 + 8n) then sackOK/MSS on a SYN: the SYN options still count.
      expect(parse(segBytes([5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 5, 0xb4, 4, 2, 1, 1, 1, 1], undefined, SYN))).to.equal(0);
      expect([seg.mss, seg.sackPermitted, seg.sackCount]).to.deep.equal([1460, true, 0]);
      expect(parse(segBytes([30, 4, 0, 0]))).to.equal(0);
      expect(parse(segBytes([30, 1, 0, 0]))).to.equal(TcpParseError.BadOption);
      expect(parse(segBytes([1, 1, 1, 8]))).to.equal(TcpParseError.BadOption);
      expect(parse(segBytes([1, 1, 30, 3]))).to.equal(TcpParseError.BadOption);
      expect(delta()).to.deep.equal({ lengthBelowTwo: 1, pastHeader: 2, wrongLength: 2, unknownKind: 1 });
    });
    it('reads MSS, WS and sackOK only on SYN, and clamps the shift to 14', () => {
      const opts = [2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 15];
      expect(parse(segBytes(opts, undefined, ACK))).to.equal(0);
      expect([seg.mss, seg.wscale, seg.sackPermitted]).to.deep.equal([0, -1, false]);
      expect(parse(segBytes(opts, undefined, SYN | ACK))).to.equal(0);
      expect([seg.mss, seg.wscale, seg.sackPermitted]).to.deep.equal([1460, 14, true]);
      // options from a previous segment never leak into the next one
      expect(parse(segBytes([], undefined, SYN))).to.equal(0);
      expect([seg.mss, seg.wscale, seg.sackPermitted]).to.deep.equal([0, -1, false]);
    });
    it('requires the header to lie in the first mbuf segment', () => {
      const small = new TsMempool({ count: 8, dataRoom: 24 });
      const b = segBytes([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], new Uint8Array(10));
      const m = small.fromBytes(b);
      expect(small.nbSegs(m)).to.equal(2);
      expect(parseTcp(small, m, seg)).to.equal(TcpParseError.HeaderSplit);
      small.free(m);
      const m2 = small.fromBytes(segBytes([], new Uint8Array(30)));
      expect(parseTcp(small, m2, seg)).to.equal(0);
      expect(seg.payloadLen).to.equal(30);
      small.free(m2);
      const tiny = new TsMempool({ count: 8, dataRoom: 10 });
      const m3 = tiny.fromBytes(segBytes([]));
      expect(parseTcp(tiny, m3, seg)).to.equal(TcpParseError.TooShort);
      tiny.free(m3);
      expect(small.inUse() + tiny.inUse()).to.equal(0);
    });
    it('never throws and never reads past the header on random bytes', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(60), (b, cut) => {
        // Poison the bytes that follow the packet in the buffer: a parser
        // reading past pkt_len would pick them up as options.
        const m = pool.alloc();
        const at = pool.append(m, b.length);
        pool.u8.set(b, at);
        pool.u8.fill(8, at + b.length, at + b.length + 64);
        try {
          const r = parseTcp(pool, m, seg);
          if (r === 0) {
            expect(seg.hdrLen).to.be.within(20, Math.min(60, b.length));
            expect(seg.hdrLen + seg.payloadLen).to.equal(b.length);
            expect(seg.sackCount).to.be.within(0, 4);
            expect(seg.wscale).to.be.within(-1, 14);
          } else {
            expect([1, 2, 3, 4]).to.include(r);
          }
          // also a truncated pkt_len over the same bytes
          pool.setPktLen(m, Math.min(cut, b.length));
          pool.setDataLen(m, Math.min(cut, b.length));
          const r2 = parseTcp(pool, m, seg);
          if (r2 === 0) expect(seg.hdrLen + seg.payloadLen).to.equal(Math.min(cut, b.length));
        } finally { pool.free(m); }
      }), { numRuns: 2000 });
    });
  });

  describe('checksum', () => {
    it('setTcpChecksum makes tcpChecksumOk true and any flipped bit false, over chains', () => {
      const small = new TsMempool({ count: 64, dataRoom: 37 });
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(7), (payload, pos, bit) => {
        const m = small.fromBytes(segBytes([], payload, ACK | PSH));
        try {
          setTcpChecksum(small, m, SRC, DST);
          expect(tcpChecksumOk(small, m, SRC, DST)).to.equal(true);
          expect(tcpChecksumOk(small, m, SRC, (DST + 1) as Ip4)).to.equal(false);
          // reference: checksum over the flat bytes
          const flat = small.toBytes(m);
          const dv = new DataView(flat.buffer);
          const got = dv.getUint16(TCP_CHECKSUM);
          dv.setUint16(TCP_CHECKSUM, 0);
          expect(got).to.equal(finish(sumBytes(dv, 0, flat.length, pseudoHeaderSum(SRC, DST, 6, flat.length))));
          dv.setUint16(TCP_CHECKSUM, got);
          const i = pos % flat.length;
          flat[i] ^= 1 << bit;
          small.copyIn(m, i, flat.subarray(i, i + 1));
          expect(tcpChecksumOk(small, m, SRC, DST)).to.equal(false);
        } finally { small.free(m); }
      }));
      expect(small.inUse()).to.equal(0);
    });
    it('presets the pseudo-header sum for offload', () => {
      const m = pool.fromBytes(segBytes([], new Uint8Array(100)));
      setTcpPseudoChecksum(pool, m, SRC, DST, true);
      expect(pool.dv.getUint16(pool.mtod(m) + TCP_CHECKSUM)).to.equal(fold(pseudoHeaderSum(SRC, DST, 6, 120)));
      setTcpPseudoChecksum(pool, m, SRC, DST, false);
      expect(pool.dv.getUint16(pool.mtod(m) + TCP_CHECKSUM)).to.equal(fold(pseudoHeaderSum(SRC, DST, 6, 0)));
      pool.free(m);
    });
    it('reports a truncated chain as bad rather than reading past it', () => {
      const m = pool.fromBytes(segBytes([], new Uint8Array(10)));
      setTcpChecksum(pool, m, SRC, DST);
      pool.setPktLen(m, pool.pktLen(m) + 4); // lie: chain holds fewer bytes
      expect(tcpChecksumOk(pool, m, SRC, DST)).to.equal(false);
      pool.setPktLen(m, pool.pktLen(m) - 4);
      pool.free(m);
      expect(NO_MBUF).to.equal(-1);
      expect(TCP_MIN_HDR).to.equal(20);
      expect(RST).to.equal(4);
    });
  });
});
