/** The wire expectations themselves: they must fail, and say why, when the segment differs. */
import { expect } from 'chai';
import { TcpPair, pattern } from '../tcp-harness.js';
import { ACK, FIN, SYN } from '../../src/tcp/header.js';
import { established } from './handshake.js';
import { flagNames, wire } from './segments.js';

describe('test helpers: expectSegment / expectNothing', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse(), 'mbufs leaked').to.equal(p.startInUse);
  });

  it('matches the handshake with relative and absolute numbers', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const a = wire(p, 'a', { conn: client, from: 0 });
    const syn = a.expectSegment({ flags: SYN, relSeq: 0, seq: client.iss });
    expect(syn.seq).to.equal(client.iss);
    wire(p, 'b', { conn: server, from: 0 }).expectSegment({ flags: SYN | ACK, relSeq: 0, relAck: 1, ack: client.iss + 1 });
    a.expectSegment({ flags: ACK, relSeq: 1, relAck: 1 });
    a.expectNothing();
  });

  it('fails on a differing field, naming it and listing what was sent', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const b = wire(p, 'b', server);
    client.write(pattern(2 * 1448));
    p.deliver();
    let msg = '';
    try { b.expectSegment({ flags: ACK, relAck: 2, len: 0 }, 'the ACK'); } catch (e) { msg = (e as Error).message; }
    expect(msg).to.match(/^the ACK: expected a segment from b \{flags: ACK, relAck: 2, len: 0\}, but it sent/);
    expect(msg).to.contain(`relAck: ${1 + 2 * 1448} ≠ 2`);
    expect(msg).to.contain('since the mark it sent:');
  });

  it('fails when nothing was sent, and expectNothing fails when something was', () => {
    p = new TcpPair();
    const { client, server } = established(p);
    const b = wire(p, 'b', server);
    expect(() => b.expectSegment({})).to.throw(/sent nothing more/);
    const a = wire(p, 'a', client);
    client.write(pattern(10));
    p.deliver();
    expect(() => a.expectNothing('quiet')).to.throw(/quiet: expected nothing more from a, but it sent\n.*len=10/);
    a.expectSegment({ len: 10, flagsSet: ACK, flagsClear: SYN | FIN });
    expect(() => a.expectSegment({ flagsSet: FIN })).to.throw(/sent nothing more/);
  });

  it('passes over the other side, other connections and what `only` leaves out', () => {
    p = new TcpPair();
    const one = established(p, 80);
    const two = established(p, 81);
    const a = wire(p, 'a', { conn: two.client, only: (s) => s.len > 0 });
    one.client.write(pattern(5));
    two.client.write(pattern(7));
    p.deliver();
    a.expectSegment({ len: 7 });
    a.expectNothing();
    expect(flagNames(SYN | ACK)).to.equal('SYN|ACK');
  });
});
