import { expect } from 'chai';
import { runScriptText } from '../src/drill/interpreter.js';
import { POLL, tcpPollMask, type PollView } from '../src/drill/poll.js';
import { PASSIVE_OPEN as OPEN, linux } from './helpers/drill-open.js';

describe('drill: poll and epoll (poll.ts)', () => {
  const base: PollView = { listening: false, acceptable: 0, connecting: false, deferredConnect: false, closed: false,
    readable: 0, rcvShut: false, sndShut: false, queued: 0, sndBuf: 1000, error: false, notsentOk: true };

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

describe('drill: ICMP packets (icmp.ts)', () => {
  it('parses packetdrill ICMP lines, and refuses what it cannot build', async () => {
    const { parseIcmpSpec } = await import('../src/drill/icmp.js');
    const none = (): undefined => undefined;
    expect(parseIcmpSpec('unreachable frag_needed mtu 1200 [ 1 : 1461 ( 1460 ) ]', none)).to.deep.equal({ type: 3, code: 4, mtu: 1200, quote: { seq: 1, len: 1460 }, udpLen: 0 });
    expect(parseIcmpSpec('unreachable CODE', (n) => (n === 'CODE' ? 'host_unreachable' : undefined))).to.deep.include({ type: 3, code: 1, quote: { seq: 0, len: 0 } });
    expect(parseIcmpSpec('time_exceeded ttl_exceeded_in_transit [ 4294967295 : 4294967295 ( 0 ) ]', none)).to.deep.include({ type: 11, code: 0 });
    expect(parseIcmpSpec('unreachable bogus_code', none)).to.equal('ICMP code bogus_code');
    expect(parseIcmpSpec('unreachable port_unreachable mtu 100', none)).to.match(/only valid for unreachable-frag_needed/);
    expect(parseIcmpSpec('unreachable port_unreachable [ 0 : 0 ( 0 ) / udp ( 9811 > 1 ) ]', none)).to.match(/by design/);
  });

  it('lowers the MSS only for a quote of a sequence number in flight', () => {
    const base = `${OPEN}+0 write(4, ..., 1448) = 1448\n+0 > P. 1:1449(1448) ack 1 <...>\n`;
    const out = runScriptText(`${base}+.01 < icmp unreachable frag_needed mtu 1000 [9000:9000(0)]\n+0 %{ assert tcpi_snd_mss == 1448 }%\n`, { profile: linux() });
    expect(out.status, out.message).to.equal('pass');
    const inn = runScriptText(`${base}+.01 < icmp unreachable frag_needed mtu 1000 [1:1449(1448)]\n+0 %{ assert tcpi_snd_mss == 1448 }%\n`, { profile: linux() });
    expect(inn.status).to.equal('fail');
    expect(inn.message).to.match(/actual tcpi_snd_mss = 948/);
  });
});

describe('drill: host preparation commands (shell.ts)', () => {
  it('reads ethtool TSO/GSO, rm -f and dd of scratch files; refuses the rest', async () => {
    const { shellScript } = await import('../src/drill/shell.js');
    expect(shellScript('linux', 'ethtool -K tun0 tso off gso off')).to.deep.equal([{ kind: 'tso', on: false, what: 'ethtool -K tun0 tso off gso off' }]);
    expect(shellScript('linux', 'ethtool -K tun0 tso off gso on')).to.be.a('string');
    expect(shellScript('linux', 'ethtool -K tun0 gro off')).to.be.a('string');
    expect((shellScript('linux', '/bin/dd bs=1 count=5 if=/dev/zero of=/tmp/testfile status=none') as unknown[])[0]).to.deep.include({ kind: 'file', path: '/tmp/testfile', size: 5 });
    expect(shellScript('linux', 'dd if=/dev/urandom of=/tmp/x bs=1 count=5')).to.be.a('string');
    expect(shellScript('linux', 'rm -rf /tmp/x')).to.be.a('string');
  });
});

describe('drill: NULL buffers', () => {
  it('fail with EFAULT once data would be copied, and a Fast Open SYN goes out without data', () => {
    const w = runScriptText(`${OPEN}+0 write(4, NULL, 1000) = -1 EFAULT (Bad address)\n+0 write(4, NULL, 0) = 0\n`, { profile: linux() });
    expect(w.status, w.message).to.equal('pass');
    const r = runScriptText(`${OPEN}+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 read(4, NULL, 100) = -1 EAGAIN (Resource temporarily unavailable)\n+0 < P. 1:11(10) ack 1 win 514 <nop,nop,TS val 120 ecr 200>\n+0 read(4, NULL, 100) = -1 EFAULT (Bad address)\n+0 read(4, ..., 100) = 10\n`, { profile: linux() });
    expect(r.status, r.message).to.equal('pass');
  });
});
