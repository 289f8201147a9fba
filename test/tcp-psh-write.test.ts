/**
 * PSH on the last segment of each write (RFC 9293 §3.9.1.2; what Linux and
 * BSD put on the wire), not only on the segment that empties the send queue:
 * with several writes queued behind a full congestion window, each write's
 * last segment carries PSH when it finally goes out.
 */
import { expect } from 'chai';
import { TcpPair, pattern } from './tcp-harness.js';
import { established } from './helpers/handshake.js';
import { wire } from './helpers/segments.js';
import { ACK, PSH } from '../src/tcp/header.js';
import { TsMempool } from '../src/mbuf/index.js';
import { SendBuffer } from '../src/tcp/send-buffer.js';

describe('tcp: PSH on the last segment of each write', () => {
  let p: TcpPair;
  afterEach(() => {
    p.close();
    expect(p.pool.inUse()).to.equal(p.startInUse);
  });

  it('one write of 2,500 bytes: PSH only on its last segment', () => {
    p = new TcpPair({ checksumUnneeded: true, a: { mss: 1000, noDelay: true, timestamps: false } });
    const { client: c } = established(p);
    const a = wire(p, 'a', { conn: c, only: (w) => w.len > 0 });
    expect(c.write(pattern(2500))).to.equal(2500);
    p.deliver();
    a.expectSegment({ relSeq: 1, len: 1000, flags: ACK });
    a.expectSegment({ relSeq: 1001, len: 1000, flags: ACK });
    a.expectSegment({ relSeq: 2001, len: 500, flags: ACK | PSH });
    a.expectNothing();
  });

  it('writes queued behind a full window: the segment reaching each write end has PSH', () => {
    p = new TcpPair({ checksumUnneeded: true, a: { mss: 1000, noDelay: true, timestamps: false, initialCwndSegments: 10 } });
    const { client: c } = established(p);
    const a = wire(p, 'a', { conn: c, only: (w) => w.len > 0 });
    // All three writes before any ACK can come back (deliver() runs the wire).
    expect(c.write(pattern(9500, 1))).to.equal(9500);
    // 500 bytes of window left: less than an MSS, so these wait (sender SWS).
    expect(c.write(pattern(1500, 2))).to.equal(1500);
    expect(c.write(pattern(1000, 3))).to.equal(1000);
    p.deliver();
    a.expectSegments(9, { len: 1000, flags: ACK }, 'the first flight');
    a.expectSegment({ relSeq: 9001, len: 500, flags: ACK | PSH }, 'the first write ends');
    a.expectSegment({ relSeq: 9501, len: 1000, flags: ACK }, 'inside the second write');
    // 10501..11501 holds the end of the second write (11001): PSH although more is queued.
    a.expectSegment({ relSeq: 10501, len: 1000, flags: ACK | PSH }, 'reaches the end of the second write');
    a.expectSegment({ relSeq: 11501, len: 500, flags: ACK | PSH }, 'the third write ends (queue empty)');
    a.expectNothing();
  });

  it('SendBuffer: write ends are forgotten once passed, and bounded in number', () => {
    const pool = new TsMempool({ count: 128 });
    const sb = new SendBuffer(pool);
    const push = (n: number): void => { sb.push(pool.fromBytes(new Uint8Array(n))); };
    push(100); sb.markWriteEnd();
    sb.markWriteEnd(); // nothing new: no second end at 100
    push(50); push(50); sb.markWriteEnd(); // one write of two chains ends at 200
    expect(sb.endsWrite(0, 99)).to.equal(false);
    expect(sb.endsWrite(0, 100)).to.equal(true);
    expect(sb.endsWrite(100, 50)).to.equal(false);
    expect(sb.endsWrite(150, 60)).to.equal(true);
    expect(sb.endsWrite(200, 0)).to.equal(false);
    // Many more writes than the ring holds: the newest end moves on, the oldest stay exact.
    for (let i = 0; i < 40; i++) { push(10); sb.markWriteEnd(); }
    expect(sb.endsWrite(200, 10)).to.equal(true);
    expect(sb.endsWrite(210, 9)).to.equal(false);
    expect(sb.endsWrite(210, 10)).to.equal(true);
    expect(sb.endsWrite(590, 10)).to.equal(true);
    sb.clear();
    expect(sb.endsWrite(0, 1000)).to.equal(false);
    expect(pool.inUse()).to.equal(0);
  });
});
