import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preprocess, runScriptText, type DrillResult } from '../src/drill/interpreter.js';
import { shellScript, type ShellAction } from '../src/drill/shell.js';
import { builtinProfiles, parseDefaults, applyInitCommand } from '../src/drill/defaults.js';
import { runFiles } from '../src/drill/runner.js';
import { formatReport, groupOutcomes, outcomeKind, summarize, summaryLine } from '../src/drill/report.js';
import { PASSIVE_OPEN, linux } from './helpers/drill-open.js';

function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('package.json not found');
    d = up;
  }
  return d;
}

const CORPUS = join(packageRoot(), 'test', 'packetdrill');
/** The linux profile without quick-ACK mode, for tests of the delayed-ACK timer from the first segment. */
const delayedFromStart = (): ReturnType<typeof builtinProfiles>['linux'] => { const p = linux(); p.tcp.quickAck = 0; return p; };


describe('drill: our packetdrill corpus', function () {
  this.timeout(120_000);
  const reports = runFiles([CORPUS]);

  it('finds the corpus', () => {
    expect(reports.length).to.be.greaterThan(20);
  });

  for (const r of reports) {
    it(r.file.slice(CORPUS.length + 1), () => {
      const text = formatReport(r);
      if (r.result.status === 'skipped') {
        // Only explicit marks may skip: an unsupported construct in our own corpus is a bug.
        expect(r.result.message, text).to.match(/^(expected failure|marked skip)/);
      } else {
        expect(r.result.status, text).to.equal('pass');
      }
    });
  }

  it('summarises as N passed, N failed, N skipped', () => {
    const s = summarize(reports);
    expect(s.failed).to.equal(0);
    expect(summaryLine(s)).to.match(/^\d+ passed, 0 failed, \d+ skipped$/);
  });
});

describe('drill: failures are readable', () => {
  it('reports a wrong sequence number with the line, expected and actual packets', () => {
    const r = runScriptText(`${PASSIVE_OPEN}+0    write(4, ..., 1000) = 1000
+0    > P. 1001:2001(1000) ack 1 <nop,nop,TS val 210 ecr 110>
`, { profile: linux() });
    expect(r.status).to.equal('fail');
    expect(r.line).to.equal(10);
    expect(r.message).to.contain('tcp_seq: expected 1001 vs actual 1');
    expect(r.message).to.match(/script: .*> P\. 1001:2001\(1000\) ack 1/);
    expect(r.message).to.match(/actual: .*> P\. 1:1001\(1000\) ack 1 win \d+ <nop,nop,TS val \d+ ecr 110>/);
    const text = formatReport({ file: 'wrong.pkt', result: r });
    expect(text.split('\n')[0]).to.match(/^FAIL +wrong\.pkt:10: outbound packet field tcp_seq/);
  });

  it('reports a wrong return value', () => {
    const r = runScriptText(`${PASSIVE_OPEN}+0    fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0    read(4, ..., 1000) = 10\n`, { profile: linux() });
    expect(r.status).to.equal('fail');
    expect(r.line).to.equal(10);
    expect(r.message).to.equal('read() returned -1 EAGAIN but the script expected 10');
  });

  it('reports a packet that came too late as a timing error', () => {
    // The delayed ACK leaves at +40 ms, not +10 ms (tolerance 4 ms).
    const r = runScriptText(`${PASSIVE_OPEN}+0    < P. 1:101(100) ack 1 win 514 <nop,nop,TS val 120 ecr 200>
+.01  > . 1:1(0) ack 101 <...>
`, { profile: delayedFromStart() });
    expect(r.status).to.equal('fail');
    expect(r.line).to.equal(10);
    expect(r.message).to.match(/expected outbound packet at 0\.020 but none was sent by 0\.024/);
  });

  it('reports a packet that came too early as a timing error', () => {
    const r = runScriptText(`${PASSIVE_OPEN}+0    < P. 1:101(100) ack 1 win 514 <nop,nop,TS val 120 ecr 200>
+.1   > . 1:1(0) ack 101 <...>
`, { profile: delayedFromStart() });
    expect(r.status).to.equal('fail');
    expect(r.message).to.match(/^timing error: expected outbound packet at 0\.110 but it was sent at 0\.050/);
  });

  it('reports an extra packet before the expected one as a mismatch', () => {
    const r = runScriptText(`${PASSIVE_OPEN}+0    write(4, ..., 100) = 100
+0    < P. 1:101(100) ack 1 win 514 <nop,nop,TS val 120 ecr 200>
+.04  > . 101:101(0) ack 101 <...>
`, { profile: linux() });
    expect(r.status).to.equal('fail');
    expect(r.message).to.match(/payload length|tcp_seq|flags/);
  });

  it('reports a syntax error with its line', () => {
    const r = runScriptText('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0)\n', { profile: linux() });
    expect(r.status).to.equal('fail');
    expect(r.line).to.equal(2);
    expect(r.message).to.match(/syntax error: .*window must be specified/);
  });
});

describe('drill: what cannot run is skipped, never passed', () => {
  const cases: Array<[string, RegExp]> = [
    ['0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ assert tcpi_rcv_rtt == 3 }%\n', /unsupported \(tcp_info assertion .*, line 2\)/],
    ['0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 `tc qdisc add dev tun0 root netem`\n', /unsupported \(shell command `tc qdisc add dev tun0 root netem`, line 2\)/],
    ['0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0 < udp (100)\n', /unsupported \(non-stream socket, line 1\)/],
    ['0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_TCP, TCP_CONGESTION, "bbr", 3) = 0\n', /unsupported \(setsockopt TCP_CONGESTION, line 2\)/],
    ['0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 select(4, ..., ..., ..., ...) = 0\n', /unsupported \(system call select\(\), line 2\)/],
    ['--ip_version=ipv7\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n', /unsupported \(--ip_version=ipv7, line 1\)/],
    ['`../common/defaults.sh; sysctl -q net.ipv4.tcp_mtu_probing=1`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n', /unsupported \(host setting net.ipv4.tcp_mtu_probing=1/],
  ];
  for (const [text, re] of cases) {
    it(re.source, () => {
      const r = runScriptText(text, { profile: linux() });
      expect(r.status).to.equal('skipped');
      expect(r.message).to.match(re);
    });
  }

  it('maps known sysctls of an init command onto the profile', () => {
    const p = linux();
    expect(applyInitCommand(p, './defaults.sh; sysctl -q net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0')).to.deep.equal([]);
    expect(p.tcp.timestamps).to.equal(false);
    expect(p.tcp.sack).to.equal(false);
  });

  it('an xfail mark turns a failure into a skip with the reason and the mismatch', () => {
    const r = runScriptText(`// drill: xfail not done yet\n${PASSIVE_OPEN}+0 write(4, ..., 1) = 2\n`, { profile: linux() });
    expect(r.status).to.equal('skipped');
    expect(r.message).to.match(/^expected failure \(not done yet\): write\(\) returned 1 but the script expected 2/);
  });
});

describe('drill: defaults file', () => {
  it('overrides built-in profiles and defines new ones', () => {
    const p = parseDefaults('[linux]\ndelayed_ack_ms = 200\n[slow]\nbase = freebsd\nmin_rto_ms = 1000\n', 'x.conf');
    expect(p.linux.tcp.delayedAckMs).to.equal(200);
    expect(p.slow.tcp.minRtoMs).to.equal(1000);
    expect(p.slow.optionOrder).to.equal('set');
    expect(p.freebsd.tcp.minRtoMs).to.equal(30);
  });

  it('names the line of a bad setting', () => {
    expect(() => parseDefaults('[linux]\n\nbogus = 1\n', 'x.conf')).to.throw(/x\.conf:3: unknown setting 'bogus'/);
  });

  it('a script directive changes a setting for that script only', () => {
    // With a 100 ms delayed-ACK timer the ACK comes at +100 ms.
    const r = runScriptText(`// drill: delayed_ack_ms=100\n${PASSIVE_OPEN}+0    < P. 1:101(100) ack 1 win 514 <nop,nop,TS val 120 ecr 200>
+.1   > . 1:1(0) ack 101 <nop,nop,TS val 310 ecr 120>
`, { profile: delayedFromStart() });
    expect(r.status, r.message).to.equal('pass');
  });
});

describe('drill: Linux behaviour the linux profile switches on', () => {
  it('quick-ACK mode: the first data segment is ACKed at once under the built-in linux profile', () => {
    const r = runScriptText(`${PASSIVE_OPEN}+0    < P. 1:101(100) ack 1 win 514 <nop,nop,TS val 120 ecr 200>
+0    > . 1:1(0) ack 101 <...>
`, { profile: linux() });
    expect(r.status, r.message).to.equal('pass');
  });

  it('options tzstack lacks (MD5, MPTCP) skip the script; an unknown word is still a syntax error', () => {
    const fo = runScriptText(`${PASSIVE_OPEN}+0    < P. 1:101(100) ack 1 win 514 <nop,nop,mp_capable 0123456789abcdef>\n`, { profile: linux() });
    expect(fo.status).to.equal('skipped');
    expect(fo.message).to.match(/TCP option 'mp_capable'/);
    const typo = runScriptText(`${PASSIVE_OPEN}+0    < P. 1:101(100) ack 1 win 514 <nop,nop,sackOk>\n`, { profile: linux() });
    expect(typo.status).to.equal('fail');
    expect(typo.message).to.match(/syntax error/);
  });
});

describe('drill: tcp_info assertions in python blocks', () => {
  it('checks plain tcpi_* assertions against the socket under test', () => {
    const ok = runScriptText(`${PASSIVE_OPEN}+0    %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd; assert tcpi_ca_state == TCP_CA_Open }%\n`, { profile: linux() });
    expect(ok.status, ok.message).to.equal('pass');
    const bad = runScriptText(`${PASSIVE_OPEN}+0    %{ assert tcpi_snd_cwnd == 7, tcpi_snd_cwnd }%\n`, { profile: linux() });
    expect(bad.status).to.equal('fail');
    expect(bad.line).to.equal(9);
    expect(bad.message).to.equal('tcp_info assertion failed: assert tcpi_snd_cwnd == 7 (actual tcpi_snd_cwnd = 10)');
  });

  it('skips a block with other python or a field it cannot compute', () => {
    const other = runScriptText(`${PASSIVE_OPEN}+0    %{ import os }%\n`, { profile: linux() });
    expect(other.status).to.equal('skipped');
    const field = runScriptText(`${PASSIVE_OPEN}+0    %{ assert tcpi_rcv_rtt == 3 }%\n`, { profile: linux() });
    expect(field.status).to.equal('skipped');
    expect(field.message).to.match(/tcp_info field tcpi_rcv_rtt/);
  });
});

describe('drill: host settings and shell commands (shell.ts)', () => {
  it('maps FreeBSD sysctls onto the config and accepts only the defaults of the rest', () => {
    const r = shellScript('freebsd', 'sysctl -w net.inet.tcp.sack.enable=0 net.inet.tcp.hostcache.purgenow=1');
    expect(r).to.be.an('array');
    const cfg: Record<string, unknown> = {};
    for (const a of r as ShellAction[]) if (a.kind === 'config') a.apply(cfg, {});
    expect(cfg.sack).to.equal(false);
    const mayRst = shellScript('freebsd', 'sysctl -w net.inet.tcp.icmp_may_rst=0');
    expect(mayRst).to.have.length(1);
    const mayRstCfg: Record<string, unknown> = {};
    for (const a of mayRst as ShellAction[]) if (a.kind === 'config') a.apply(mayRstCfg, {});
    expect(mayRstCfg.icmpMayReset).to.equal(false);
    // RFC 793 RST / SYN acceptance and SYN+FIN handling map onto their TcpConfig knobs.
    const k = shellScript('freebsd', 'sysctl -w net.inet.tcp.insecure_rst=1 net.inet.tcp.insecure_syn=1 net.inet.tcp.drop_synfin=0');
    expect(k).to.be.an('array').with.length(3);
    const kc: Record<string, unknown> = {};
    for (const a of k as ShellAction[]) if (a.kind === 'config') a.apply(kc, {});
    expect(kc).to.deep.equal({ rstAcceptInWindow: true, synInWindowReset: true, dropSynFin: false });
    expect(shellScript('freebsd', 'sysctl -w net.inet.tcp.no_such_thing=1')).to.match(/^host setting/);
  });

  it('reads Linux sysctl, set_sysctls.py (with continuations) and /proc/sys writes', () => {
    const r = shellScript('linux', '../../common/defaults.sh\n ../../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 \\\n   /proc/sys/net/ipv4/tcp_rmem="4096 540000 15728640"');
    expect(r).to.be.an('array');
    const cfg: Record<string, unknown> = {};
    for (const a of r as ShellAction[]) if (a.kind === 'config') a.apply(cfg, {});
    expect(cfg.timestamps).to.equal(false);
    expect(shellScript('linux', 'echo 1 > /proc/sys/net/ipv4/tcp_sack')).to.have.length(1);
    expect(shellScript('linux', 'sysctl -q net.ipv4.tcp_rmem="4096 87380 6291456"')).to.match(/only the default/);
    expect(shellScript('linux', 'tc qdisc add dev tun0 root fq')).to.match(/^shell command/);
  });

  it('reads sockstat counts and tcpdrop only under the freebsd profile', () => {
    expect(shellScript('freebsd', 'sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 0'))
      .to.deep.equal([{ kind: 'count', state: 'SYN_RCVD', port: 8080, pattern: '0', text: 'sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 0' }]);
    expect(shellScript('freebsd', 'tcpdrop -s TIME_WAIT')).to.deep.equal([{ kind: 'drop', state: 'TIME_WAIT' }]);
    expect(shellScript('linux', 'tcpdrop -s TIME_WAIT')).to.be.a('string');
  });

  it('#ifdef takes the OS name of the profile', () => {
    const t = 'a\n#ifdef FreeBSD\nb\n#endif\n#ifdef Linux\nc\n#endif\nd';
    expect(preprocess(t, new Set(['FreeBSD']))).to.equal('a\n\nb\n\n\n\n\nd');
    expect(() => preprocess('#endif\n', new Set())).to.throw(/#endif without #ifdef/);
  });
});

describe('drill: --summary groups', () => {
  it('groups failures by first mismatch without the numbers, skips by construct', () => {
    const mk = (status: 'fail' | 'skipped', message: string): { file: string; result: DrillResult } =>
      ({ file: 'x.pkt', result: { status, message, line: 1, events: 0, virtualMs: 0, profile: 'linux', notes: [] } });
    expect(outcomeKind(mk('fail', 'outbound packet field tcp_window: expected 65535 vs actual 65533\n  script: ...').result))
      .to.equal('fail: outbound packet field tcp_window');
    expect(outcomeKind(mk('skipped', 'unsupported (system call sendto(), line 12)').result)).to.equal('skip: system call sendto()');
    const g = groupOutcomes([mk('fail', 'read() returned 1 but the script expected 2'), mk('fail', 'read() returned 5 but the script expected 7'),
      mk('skipped', 'unsupported (icmp packet, line 3)')]);
    expect(g[0]).to.include({ kind: 'fail: read() returned another value', count: 2 });
    expect(g[1]).to.include({ kind: 'skip: icmp packet', count: 1 });
  });
});
