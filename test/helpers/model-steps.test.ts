/** The connection model of test/tcp-model.test.ts on hand-picked steps (what it predicts, and that it objects). */
import { expect } from 'chai';
import { TcpState } from '../../src/tcp/state.js';
import { ACK, FIN, RST, SYN } from '../../src/tcp/header.js';
import {
  allowed, appStep, clockStep, newModel, reconcile, segmentStep, writeAccepts, type ConnModel, type ConnSnapshot,
} from './tcp-model.js';

const S = TcpState;
const ISS = 1000;
const IRS = 5000;

/** An established connection that has written `written` bytes, all acknowledged. */
function est(over: Partial<ConnModel> = {}): { m: ConnModel; snap: ConnSnapshot } {
  const m: ConnModel = {
    ...newModel({ state: S.SynSent, iss: ISS, irs: 0, sndUna: ISS, sndMax: ISS + 1, rcvNxt: 0, rcvAdv: 0, readable: 0, sendQueued: 0, peerClosed: false, ts: false }),
    state: S.Established, irs: IRS, sndUna: ISS + 1, rcvNxt: IRS + 1, ...over,
  };
  const snap: ConnSnapshot = {
    state: m.state, iss: ISS, irs: IRS, sndUna: m.sndUna, sndMax: ISS + 1 + m.written + (m.finQueued ? 1 : 0), rcvNxt: m.rcvNxt,
    rcvAdv: m.rcvNxt + 65535, readable: m.readable, sendQueued: 0, peerClosed: false, ts: false,
  };
  return { m, snap };
}
const seg = (flags: number, seq: number, ack: number, len = 0) => ({ flags, seq, ack, len, corrupt: false, oldTs: false });

describe('test helpers: the TCP connection model', () => {
  it('the transition table allows the diagram and the one-segment combinations only', () => {
    expect(allowed(S.Established, S.CloseWait)).to.equal(true);
    expect(allowed(S.SynReceived, S.Closing)).to.equal(true);
    expect(allowed(S.CloseWait, S.FinWait1)).to.equal(false);
    expect(allowed(S.Closed, S.Established)).to.equal(false);
  });

  it('close() with unread data resets; without, it sends FIN (FIN-WAIT-1, LAST-ACK)', () => {
    const r = appStep(est({ readable: 10 }).m, 'close');
    expect([r.states, r.next.readable, r.orderly]).to.deep.equal([[S.Closed], 0, false]);
    expect(appStep(est().m, 'close').states).to.deep.equal([S.FinWait1]);
    expect(appStep(est({ state: S.CloseWait }).m, 'close').states).to.deep.equal([S.LastAck]);
    expect(appStep(est({ state: S.SynReceived }).m, 'shutdown').states, 'FIN queued until ESTABLISHED').to.deep.equal([S.SynReceived]);
  });

  it('write() takes what fits, nothing once a FIN is queued', () => {
    const { m, snap } = est();
    expect(writeAccepts(m, { ...snap, sendQueued: 65000 }, 1000, 65536)).to.equal(536);
    expect(writeAccepts({ ...m, finQueued: true }, snap, 1000, 65536)).to.equal(0);
  });

  it('a RST at RCV.NXT resets, one inside the window does not; in CLOSING it is an orderly end', () => {
    const { m, snap } = est({ readable: 5 });
    const r = segmentStep(m, snap, seg(RST, IRS + 1, 0));
    expect([r.states, r.next.readable, r.orderly]).to.deep.equal([[S.Closed], 0, false]);
    expect(segmentStep(m, snap, seg(RST, IRS + 100, 0)).states).to.deep.equal([S.Established]);
    const c = est({ state: S.Closing, readable: 5, finSeen: true, finQueued: true });
    const rc = segmentStep(c.m, c.snap, seg(RST, IRS + 1, 0));
    expect([rc.states, rc.next.readable, rc.orderly]).to.deep.equal([[S.Closed], 5, true]);
  });

  it('in-order data and FIN move RCV.NXT, the bytes readable and the state', () => {
    const { m, snap } = est();
    const r = segmentStep(m, snap, seg(ACK | FIN, IRS + 1, ISS + 1, 100));
    expect([r.states, r.rcvNxt, r.next.readable, r.next.finSeen]).to.deep.equal([[S.CloseWait], IRS + 102, 100, true]);
    // FIN-WAIT-1, our FIN acknowledged by the segment that carries theirs: TIME-WAIT.
    const f = est({ state: S.FinWait1, finQueued: true });
    expect(segmentStep(f.m, f.snap, seg(ACK | FIN, IRS + 1, ISS + 2)).states).to.deep.equal([S.TimeWait]);
    expect(segmentStep(f.m, f.snap, seg(ACK | FIN, IRS + 1, ISS + 1)).states, 'not acknowledged: CLOSING').to.deep.equal([S.Closing]);
    // An ACK for data never sent, a SYN, a bad checksum: nothing changes.
    for (const s of [seg(ACK, IRS + 1, ISS + 99, 10), seg(SYN, IRS + 1, 0), { ...seg(ACK | FIN, IRS + 1, ISS + 1, 10), corrupt: true }]) {
      const x = segmentStep(m, snap, s);
      expect([x.states, x.rcvNxt, x.next.readable]).to.deep.equal([[S.Established], IRS + 1, 0]);
    }
  });

  it('data beyond a hole leaves the outcome open and marks the out-of-order queue', () => {
    const { m, snap } = est();
    const r = segmentStep(m, snap, seg(ACK, IRS + 501, ISS + 1, 100));
    expect(r.states.length).to.be.greaterThan(1);
    expect(r.rcvNxt).to.equal(undefined);
    expect(r.next.oooEnd).to.equal(IRS + 601);
  });

  it('TIME-WAIT ends exactly 2MSL after it began, unless a segment arrived', () => {
    const tw = est({ state: S.TimeWait, twSince: 1000 }).m;
    expect(clockStep(tw, 60999, 60000).states).to.deep.equal([S.TimeWait]);
    expect(clockStep(tw, 61000, 60000).states).to.deep.equal([S.Closed]);
    expect(clockStep({ ...tw, twTouched: true }, 61000, 60000).states).to.deep.equal([S.TimeWait, S.Closed]);
  });

  it('reconcile objects to a connection that differs', () => {
    const { m, snap } = est();
    const x = segmentStep(m, snap, seg(ACK, IRS + 1, ISS + 1, 100));
    const good = reconcile(x, m, { ...snap, rcvNxt: IRS + 101, readable: 100 }, 0);
    expect(good.errors).to.deep.equal([]);
    const bad = reconcile(x, m, { ...snap, state: S.CloseWait, rcvNxt: IRS + 101, readable: 99 }, 0);
    expect(bad.errors.join('; ')).to.match(/state CloseWait, model says Established.*readable 99, model says 100/);
  });
});
