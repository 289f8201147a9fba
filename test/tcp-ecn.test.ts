import { expect } from 'chai';
import { TcpPair, IP_B, pattern } from './tcp-harness.js';
import { CWR, ECE, SYN, ACK } from '../src/tcp/header.js';

describe('tcp: ECN negotiation and echo (RFC 3168)', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('negotiates ECN, sends new data ECT(0) and pure ACKs not-ECT', () => {
    p = new TcpPair({ a: { ecn: true }, b: { ecn: true } });
    const l = p.b.listen(80);
    const c = p.a.connect(IP_B, 80);
    p.deliver();
    const s = l.accept()!;
    expect(p.log[0].flags).to.equal(SYN | ECE | CWR);
    expect(p.log[1].flags).to.equal(SYN | ACK | ECE);
    expect(c.info().ecn).to.equal(true);
    expect(s.info().ecn).to.equal(true);
    c.write(pattern(3000));
    p.run(100);
    const data = p.log.filter((x) => x.from === 'a' && x.len > 0);
    expect(data.every((x) => (x.tos & 3) === 2)).to.equal(true);
    expect(p.log.filter((x) => x.from === 'b').every((x) => (x.tos & 3) === 0)).to.equal(true);
  });

  it('is not used unless both ends want it', () => {
    p = new TcpPair({ a: { ecn: true }, b: { ecn: false } });
    const l = p.b.listen(80);
    const c = p.a.connect(IP_B, 80);
    p.deliver();
    expect(p.log[1].flags & ECE).to.equal(0);
    expect(c.info().ecn).to.equal(false);
    expect(l.accept()!.info().ecn).to.equal(false);
  });

  it('echoes CE as ECE until CWR, and the sender reduces its window once', () => {
    p = new TcpPair({ a: { ecn: true, cc: 'newreno' }, b: { ecn: true } });
    const l = p.b.listen(80);
    const c = p.a.connect(IP_B, 80);
    p.deliver();
    const s = l.accept()!;
    c.write(pattern(100000));
    p.run(100);
    let marked = 0;
    p.ceMark = (x) => x.from === 'a' && x.len > 0 && marked++ === 0;
    const mark = p.log.length;
    c.write(pattern(200000));
    p.run(200);
    const after = p.log.slice(mark);
    const eceAcks = after.filter((x) => x.from === 'b' && (x.flags & ECE));
    expect(eceAcks.length).to.be.greaterThan(0);
    const cwrSegs = after.filter((x) => x.from === 'a' && (x.flags & CWR));
    expect(cwrSegs.length).to.equal(1);
    const lastEce = eceAcks[eceAcks.length - 1];
    expect(lastEce.at).to.be.at.most(cwrSegs[0].at);
    expect(c.info().ssthresh).to.be.lessThan(0x7fffffff);
    const got = s.readable();
    expect(got).to.be.greaterThan(0);
  });
});
