/**
 * TCP Fast Open (RFC 7413) between two tzstack layers: cookie request,
 * data on the SYN accepted before the handshake, cookie rotation, and the
 * Linux-compatible cookie value.
 */
import { expect } from 'chai';
import { TcpPair, IP_B } from './tcp-harness.js';
import { fastOpenCounters, parseFastOpenKey, validCookieLength } from '../src/tcp/fastopen.js';
import { TcpFlag } from '../src/tcp/header.js';
import { TcpState } from '../src/tcp/state.js';

const KEY = parseFastOpenKey('a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4')!;

function openWith(p: TcpPair, data: Uint8Array) {
  const c = p.a.connect(IP_B, 80, { earlyData: data });
  p.deliver();
  return c;
}

describe('tcp: Fast Open (RFC 7413)', () => {
  it('asks for a cookie, then sends data on the SYN that the server reads before the handshake completes', () => {
    const p = new TcpPair({ a: { fastOpenClient: true }, b: { fastOpenKey: KEY } });
    const l = p.b.listen(80, { fastOpen: 8 });
    // First connection: a cookie request; the 5 bytes wait for the handshake.
    const c1 = openWith(p, new Uint8Array([1, 2, 3, 4, 5]));
    const syn1 = p.log.find((s) => s.from === 'a' && (s.flags & TcpFlag.SYN))!;
    expect(syn1.len).to.equal(0);
    const s1 = l.accept()!;
    expect(s1.read(100)!.length).to.equal(5);
    c1.close(); s1.close(); p.run(200);
    // Second: the cookie rides on the SYN with the data, which the server holds at once.
    p.log.length = 0;
    p.holding = true;
    const c2 = p.a.connect(IP_B, 80, { earlyData: new Uint8Array(300).fill(7) });
    p.deliver();
    p.holding = false;
    const synSeg = p.held[0];
    expect(p.held.length).to.equal(1);
    p.held.length = 0;
    p.b.input(synSeg.m, synSeg.src, synSeg.dst, 0); // only the SYN reaches b; its SYN-ACK is held back below
    const syn2 = p.log.find((s) => s.from === 'a' && (s.flags & TcpFlag.SYN))!;
    expect(syn2.len).to.equal(300);
    const s2 = l.accept()!;
    expect(s2, 'accepted on its SYN').to.not.equal(null);
    expect(s2.state).to.equal(TcpState.SynReceived);
    expect(s2.read(1000)!.length).to.equal(300);
    p.deliver();
    expect(c2.state).to.equal(TcpState.Established);
    expect(c2.fo!.synData).to.equal(true);
    expect(fastOpenCounters(p.b).accepted).to.equal(1);
    c2.close(); s2.close(); p.run(1000);
    p.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('keeps the previous random key valid for one rotation, then issues a new cookie', () => {
    const p = new TcpPair({ a: { fastOpenClient: true }, b: { fastOpenKeyRotateMs: 10_000 } });
    const l = p.b.listen(80, { fastOpen: 8 });
    const c1 = openWith(p, new Uint8Array(1)); p.run(10);
    const s1 = l.accept()!; c1.close(); s1.close(); p.run(500);
    p.clock.set(p.clock.now() + 12_000); // one rotation: the old cookie still works
    const c2 = openWith(p, new Uint8Array(10)); p.run(10);
    expect(c2.fo!.synData, 'cookie under the previous key').to.equal(true);
    const s2 = l.accept()!; c2.close(); s2.close(); p.run(500);
    p.clock.set(p.clock.now() + 25_000); // two rotations: rejected, data resent after the handshake
    const sentBefore = fastOpenCounters(p.b).cookiesInvalid;
    const c3 = openWith(p, new Uint8Array(10)); p.run(10);
    expect(c3.fo!.synData).to.equal(false);
    expect(fastOpenCounters(p.b).cookiesInvalid).to.equal(sentBefore + 1);
    const s3 = l.accept()!;
    expect(s3.read(100)!.length).to.equal(10);
    c3.close(); s3.close(); p.run(1000);
    p.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('a listener without fastOpen ignores the option and drops SYN data (acknowledging the SYN only)', () => {
    const p = new TcpPair({ a: { fastOpenClient: true, fastOpenClientNoCookie: true } });
    const l = p.b.listen(80);
    const c = openWith(p, new Uint8Array(50)); p.run(10);
    const synAck = p.log.find((s) => s.from === 'b' && (s.flags & TcpFlag.SYN))!;
    expect((synAck.ack - p.log[0].seq) >>> 0).to.equal(1);
    const s = l.accept()!;
    expect(s.read(100)!.length).to.equal(50); // sent again after the handshake
    c.close(); s.close(); p.run(1000);
    p.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('accepts the cookie lengths RFC 7413 allows', () => {
    expect([3, 4, 5, 8, 16, 17, 18].map(validCookieLength)).to.deep.equal([false, true, false, true, true, false, false]);
    expect(parseFastOpenKey('nonsense')).to.equal(null);
  });
});
