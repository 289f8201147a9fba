import { expect } from 'chai';
import { runScriptText } from '../src/drill/interpreter.js';
import { parseDefaults } from '../src/drill/defaults.js';
import { POLL, tcpPollMask, type PollView } from '../src/drill/poll.js';

const linux = (): ReturnType<typeof parseDefaults>['linux'] => parseDefaults('', 'test').linux;
const OPEN = `
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 200 ecr 100,nop,wscale 8>
+.01  < . 1:1(0) ack 1 win 514 <nop,nop,TS val 110 ecr 200>
+0    accept(3, ..., ...) = 4
`;

describe('drill: poll and epoll (poll.ts)', () => {
  const base: PollView = { listening: false, acceptable: 0, connecting: false, deferredConnect: false, closed: false,
    readable: 0, rcvShut: false, sndShut: false, queued: 0, sndBuf: 1000, error: false };

  it('computes tcp_poll masks as Linux does', () => {
    expect(tcpPollMask(base)).to.equal(POLL.POLLOUT | POLL.POLLWRNORM);
    // Writable while free space is at least half of what is queued: 668 queued of 1000 is not.
    expect(tcpPollMask({ ...base, queued: 668 }) & POLL.POLLOUT).to.equal(0);
    expect(tcpPollMask({ ...base, queued: 666 }) & POLL.POLLOUT).to.equal(POLL.POLLOUT);
    expect(tcpPollMask({ ...base, connecting: true })).to.equal(0);
    expect(tcpPollMask({ ...base, connecting: true, deferredConnect: true })).to.equal(POLL.POLLOUT | POLL.POLLWRNORM);
    const reset = tcpPollMask({ ...base, closed: true, rcvShut: true, sndShut: true, error: true });
    expect(reset & (POLL.POLLIN | POLL.POLLOUT | POLL.POLLERR | POLL.POLLHUP | POLL.POLLRDHUP)).to.equal(POLL.POLLIN | POLL.POLLOUT | POLL.POLLERR | POLL.POLLHUP | POLL.POLLRDHUP);
    expect(tcpPollMask({ ...base, listening: true, acceptable: 1 }) & POLL.POLLIN).to.equal(POLL.POLLIN);
  });

  it('fails a script whose revents or epoll event differ', () => {
    const p = runScriptText(`${OPEN}+0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}], 1, 0) = 1\n`, { profile: linux() });
    expect(p.status).to.equal('fail');
    expect(p.message).to.equal('poll() fd 4 revents: expected POLLIN vs actual POLLOUT');
    const e = runScriptText(`${OPEN}+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLOUT, fd=4}) = 0\n+0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1\n`, { profile: linux() });
    expect(e.status).to.equal('fail');
    expect(e.message).to.match(/epoll_wait\(\) events: expected EPOLLIN vs actual EPOLLOUT/);
  });

  it('returns 0 from a poll at its timeout, not before', () => {
    const early = runScriptText(`${OPEN}+0...0.030 poll([{fd=4, events=POLLIN, revents=0}], 1, 50) = 0\n`, { profile: linux() });
    expect(early.status).to.equal('fail');
    expect(early.message).to.match(/timing error|did not return/);
    const ok = runScriptText(`${OPEN}+0...0.050 poll([{fd=4, events=POLLIN, revents=0}], 1, 50) = 0\n`, { profile: linux() });
    expect(ok.status, ok.message).to.equal('pass');
  });
});
