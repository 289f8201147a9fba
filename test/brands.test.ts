/**
 * The branded number types (Mbuf, Ip4, Fold6/AddrKey, Seq) are checked by
 * tsc, not at run time: each `@ts-expect-error` below must meet an error, or
 * the build fails. The function holding them never runs; the one test only
 * makes the file part of the suite.
 */
import { expect } from 'chai';
import { NO_MBUF, TsMempool, type Mbuf } from '../src/mbuf/index.js';
import { parseIpv4, formatIpv4, type Ip4 } from '../src/ip/addr.js';
import { fold6, type AddrKey, type Fold6 } from '../src/tcp/route.js';
import { seqAdd, seqDiff, seqLt, type Seq } from '../src/tcp/seq.js';
import { parseIpv6 } from '../src/ip/addr6.js';

export function brandMistakes(pool: TsMempool, m: Mbuf, ip: Ip4, seq: Seq, n: number): void {
  // @ts-expect-error a sequence number is not an mbuf
  pool.free(seq);
  // @ts-expect-error nor is an address
  pool.mtod(ip);
  // @ts-expect-error nor a plain number
  pool.pktLen(n);
  // @ts-expect-error an mbuf is not an address
  formatIpv4(m);
  const f: Fold6 = fold6(parseIpv6('2001:db8::1'));
  // @ts-expect-error a fold is never an address to send to
  formatIpv4(f);
  const k: AddrKey = f;
  // @ts-expect-error an AddrKey is narrowed (v6 === null) before it is used as an Ip4
  formatIpv4(k);
  // @ts-expect-error a length is not a sequence number
  seqLt(seq, n);
  // @ts-expect-error nor is an address
  seqDiff(ip, seq);
  // @ts-expect-error seqAdd of a Seq is a Seq, and a Seq is not an mbuf
  pool.free(seqAdd(seq, 1));
  // Allowed: numbers stay numbers (a brand is assignable to number), and
  // the seq functions also compare plain 32-bit values (timestamps).
  const sum: number = seq + ip + m;
  seqLt(n, sum);
  void (m === NO_MBUF);
}

describe('branded number types', () => {
  it('are numbers at run time', () => {
    const ip = parseIpv4('10.0.0.1');
    expect(typeof ip).to.equal('number');
    expect(ip).to.equal(0x0a000001);
    expect(NO_MBUF).to.equal(-1);
    expect(typeof brandMistakes).to.equal('function');
  });
});
