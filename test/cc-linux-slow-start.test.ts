import { expect } from 'chai';
import { createCongestionControl } from '../src/tcp/cc/cc.js';

const MSS = 1000;

function linux(name = 'newreno') {
  const cc = createCongestionControl(name, MSS, 10);
  cc.linuxSlowStart = true;
  return cc;
}

describe('cc: Linux slow start (linuxSlowStart)', () => {
  it('grows by everything a stretch ACK acknowledges (no RFC 3465 L cap)', () => {
    const cc = linux();
    cc.onAck(4 * MSS, 100, 10 * MSS, 0);
    expect(cc.cwnd).to.equal(14 * MSS);
    const rfc = createCongestionControl('newreno', MSS, 10);
    rfc.onAck(4 * MSS, 100, 10 * MSS, 0);
    expect(rfc.cwnd).to.equal(12 * MSS);
  });

  it('does not grow while the flight stays at or below half the window', () => {
    const cc = linux();
    cc.onAck(2 * MSS, 100, 5 * MSS, 0);
    cc.onAck(2 * MSS, 100, 3 * MSS, 0);
    expect(cc.cwnd).to.equal(10 * MSS);
  });

  it('keeps growing over a window that was full when it began (max_packets_out)', () => {
    const cc = linux();
    let flight = 10 * MSS;
    for (let i = 0; i < 5; i++) { cc.onAck(2 * MSS, 100, flight, 0); flight -= 2 * MSS; }
    expect(cc.cwnd).to.equal(20 * MSS);
  });

  it('stops at ssthresh and hands the rest to congestion avoidance', () => {
    const cc = linux();
    cc.ssthresh = 12 * MSS;
    cc.onAck(4 * MSS, 100, 10 * MSS, 0);
    expect(cc.cwnd).to.equal(12 * MSS);
    expect(cc.inSlowStart?.()).to.equal(false);
  });
});
