/**
 * The TCP core's shape: one setState with RFC 9293's transition table,
 * typed drop reasons, coded errors from listen/connect, one TcpConfig shape.
 */
import { expect } from 'chai';
import { TcpState, TCP_STATE_NAMES, TcpStateError, isLegalTransition, legalTransitions, setState, type StateHolder, type TransitionCause } from '../src/tcp/state.js';
import { TCP_DROP_REASONS } from '../src/tcp/drops.js';
import { DEFAULT_TCP_CONFIG, cloneConfig, resolveConfig } from '../src/tcp/config.js';
import { TcpError } from '../src/tcp/connection.js';
import { IP_B, TcpPair, pump, pattern } from './tcp-harness.js';

const S = TcpState;

describe('tcpx/state: transitions', () => {
  it('has RFC 9293 §3.3.2 diagram edges and nothing else', () => {
    expect(legalTransitions(S.Closed)).to.deep.equal([S.SynSent, S.SynReceived]);
    expect(legalTransitions(S.Established)).to.deep.equal([S.Closed, S.FinWait1, S.CloseWait]);
    expect(legalTransitions(S.FinWait1)).to.deep.equal([S.Closed, S.FinWait2, S.Closing, S.TimeWait]);
    expect(legalTransitions(S.TimeWait)).to.deep.equal([S.Closed]);
    expect(isLegalTransition(S.Closed, S.Established)).to.equal(false);
    expect(isLegalTransition(S.TimeWait, S.Established)).to.equal(false);
    expect(isLegalTransition(S.LastAck, S.TimeWait)).to.equal(false);
    expect(isLegalTransition(S.CloseWait, S.CloseWait)).to.equal(true); // no move
    // every state but CLOSED may end in CLOSED
    for (let s = S.Listen; s <= S.TimeWait; s++) expect(isLegalTransition(s, S.Closed), TCP_STATE_NAMES[s]).to.equal(true);
  });

  it('counts every move, traces it, and throws (after counting) on an illegal one', () => {
    const seen: string[] = [];
    const layer = {
      moves: 0, illegal: 0,
      onStateChange(_c: StateHolder, from: TcpState, to: TcpState, why: TransitionCause, legal: boolean) {
        this.moves++; if (!legal) this.illegal++;
        seen.push(`${TCP_STATE_NAMES[from]}>${TCP_STATE_NAMES[to]}:${why}`);
      },
    };
    const c: StateHolder = { state: S.Closed, layer };
    setState(c, S.SynSent, 'connect');
    setState(c, S.SynSent, 'connect'); // same state: no move
    setState(c, S.Established, 'handshakeDone');
    expect(c.state).to.equal(S.Established);
    expect(() => setState(c, S.SynSent, 'connect')).to.throw(TcpStateError, /ESTABLISHED → SYN-SENT/);
    expect(c.state).to.equal(S.Established);
    expect(layer.moves).to.equal(3);
    expect(layer.illegal).to.equal(1);
    expect(seen).to.deep.equal(['CLOSED>SYN-SENT:connect', 'SYN-SENT>ESTABLISHED:handshakeDone', 'ESTABLISHED>SYN-SENT:connect']);
  });

  it('a connection\'s life shows in the layer counters and the trace', () => {
    const p = new TcpPair();
    const trace: string[] = [];
    p.a.traceState = (_c, from, to, why) => trace.push(`${TCP_STATE_NAMES[from]}>${TCP_STATE_NAMES[to]} ${why}`);
    const l = p.b.listen(80);
    const c = p.a.connect(IP_B, 80);
    p.deliver();
    const s = l.accept()!;
    expect(pump(p, c, s, pattern(5000)).length).to.equal(5000);
    c.close();
    p.deliver();
    s.close();
    p.deliver();
    expect(trace).to.deep.equal([
      'CLOSED>SYN-SENT connect', 'SYN-SENT>ESTABLISHED handshakeDone', 'ESTABLISHED>FIN-WAIT-1 shutdown',
      'FIN-WAIT-1>FIN-WAIT-2 finAcked', 'FIN-WAIT-2>TIME-WAIT timeWait',
    ]);
    expect(p.b.transitionCounts()).to.deep.equal({
      'CLOSED>SYN-RECEIVED': 1, 'SYN-RECEIVED>ESTABLISHED': 1, 'ESTABLISHED>CLOSE-WAIT': 1,
      'CLOSE-WAIT>LAST-ACK': 1, 'LAST-ACK>CLOSED': 1,
    });
    expect(p.b.counters.stateTransitions).to.equal(5);
    expect(p.a.counters.illegalTransitions + p.b.counters.illegalTransitions).to.equal(0);
    p.close();
  });
});

describe('tcpx/state: drop reasons and errors', () => {
  it('creates the drops object with every reason at 0', () => {
    const p = new TcpPair();
    expect(Object.keys(p.a.counters.drops)).to.deep.equal([...TCP_DROP_REASONS]);
    for (const r of TCP_DROP_REASONS) expect(p.a.counters.drops[r]).to.equal(0);
    p.close();
  });

  it('listen and connect throw errors with a code', () => {
    const p = new TcpPair();
    p.b.listen(80);
    const code = (f: () => unknown): unknown => { try { f(); } catch (e) { return (e as { code?: unknown }).code; } return 'no throw'; };
    expect(code(() => p.b.listen(80))).to.equal('EADDRINUSE');
    let err: unknown;
    try { p.b.listen(80); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(TcpError);
    expect(() => p.b.listen(0)).to.throw(RangeError);
    expect(code(() => p.b.listen(70000))).to.equal('EINVAL');
    const c = p.a.connect(IP_B, 80, { localPort: 4000 });
    expect(code(() => p.a.connect(IP_B, 80, { localPort: 4000 }))).to.equal('EADDRINUSE');
    const narrow = new TcpPair({ a: { ephemeralLow: 5000, ephemeralHigh: 5000 } });
    narrow.a.connect(IP_B, 80);
    expect(code(() => narrow.a.connect(IP_B, 80))).to.equal('EADDRNOTAVAIL');
    narrow.close();
    c.abort();
    p.close();
    expect(code(() => p.a.connect(IP_B, 80))).to.equal('ENETDOWN');
  });
});

describe('tcpx/state: one TcpConfig shape', () => {
  it('resolves every config with the same keys in the same order, without foreign keys', () => {
    const a = resolveConfig(DEFAULT_TCP_CONFIG);
    const b = resolveConfig(a, { mss: 1200, backlog: 4, localPort: 99 } as never);
    expect(Object.keys(b)).to.deep.equal(Object.keys(a));
    expect(Object.keys(cloneConfig(b))).to.deep.equal(Object.keys(a));
    expect(b.mss).to.equal(1200);
    expect(b.backlog).to.equal(4);
    expect('localPort' in b).to.equal(false);
    const p = new TcpPair();
    const l = p.b.listen(80, { backlog: 3 });
    p.a.connect(IP_B, 80);
    p.deliver();
    const s = l.accept()!;
    expect(Object.keys(s.cfg)).to.deep.equal(Object.keys(a));
    p.close();
  });
});
