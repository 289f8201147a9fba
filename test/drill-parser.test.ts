import { expect } from 'chai';
import { parseScript } from '../src/drill/parser.js';
import { tokenize } from '../src/drill/lexer.js';
import { PacketEvent, ScriptSyntaxError, SyscallEvent } from '../src/drill/ast.js';

describe('drill lexer', () => {
  it('splits numbers, flags, ellipses and addresses', () => {
    const toks = tokenize('0.100...0.200 S. 1:1001(1000) 192.0.2.1 0x802 -1 .5 // c\n/* x\ny */ `cmd` %{ a }%');
    expect(toks.map((t) => `${t.kind}:${t.text}`)).to.deep.equal([
      'float:0.100', 'ellipsis:...', 'float:0.200', 'word:S', 'punct:.', 'int:1', 'punct::', 'int:1001',
      'punct:(', 'int:1000', 'punct:)', 'ipv4:192.0.2.1', 'hex:0x802', 'int:-1', 'float:.5', 'command:cmd', 'code:a', 'eof:',
    ]);
    expect(toks[15].line).to.equal(3);
  });

  it('reports an unterminated comment with its line', () => {
    expect(() => tokenize('0 socket()\n/* open')).to.throw(ScriptSyntaxError, /line 2/);
  });
});

describe('drill parser', () => {
  it('parses a passive open with options, times and errno results', () => {
    const s = parseScript(`
--tolerance_usecs=10000
\`./defaults.sh\`
// drill: profile=linux
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0    > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 200 ecr 100,nop,wscale 8>
+.1   < . 1:1(0) ack 1 win 257 <nop,nop,TS val 110 ecr 200>
+0    accept(3, ..., ...) = 4
+0    read(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)
0.2~0.4 > P. 1:1001(1000) ack 1 <...>
*     > F. 1001:1001(0) ack 1
+0.1~+0.2 > . 1:1(0) ack 2 <nop,nop,sack 5:10 20:30>
`);
    expect(s.options).to.deep.equal([{ name: 'tolerance_usecs', value: '10000', line: 2 }]);
    expect(s.initCommand?.text).to.equal('./defaults.sh');
    expect(s.directives.get('profile')).to.equal('linux');
    expect(s.events).to.have.length(12);
    const syn = s.events[4] as PacketEvent;
    expect(syn).to.include({ type: 'packet', direction: 'in', flags: 'S', seq: 0, end: 0, len: 0, win: 32792, line: 9 });
    expect(syn.options).to.deep.equal([
      { kind: 'mss', value: 1000 }, { kind: 'sackOK' }, { kind: 'timestamp', val: 100, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', value: 7 },
    ]);
    const synack = s.events[5] as PacketEvent;
    expect(synack.flags).to.equal('S.');
    expect(synack.ack).to.equal(1);
    expect(synack.win).to.equal(null);
    expect(s.events[6].time).to.deep.equal({ kind: 'relative', ms: 100 });
    const rd = s.events[8] as SyscallEvent;
    expect(rd).to.include({ name: 'read', errno: 'EAGAIN', note: 'Resource temporarily unavailable' });
    expect(rd.result).to.deep.equal({ kind: 'int', value: -1 });
    const any = s.events[9] as PacketEvent;
    expect(any.time).to.deep.equal({ kind: 'absoluteRange', ms: 200, endMs: 400 });
    expect(any.options).to.equal(null);
    expect(s.events[10].time).to.deep.equal({ kind: 'any' });
    const sack = s.events[11] as PacketEvent;
    expect(sack.time).to.deep.equal({ kind: 'relativeRange', ms: 100, endMs: 200 });
    expect(sack.options?.[2]).to.deep.equal({ kind: 'sack', blocks: [[5, 10], [20, 30]] });
  });

  it('parses blocking calls, structs, iovecs, linger and flag expressions', () => {
    const s = parseScript(`
0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = -1 EINPROGRESS (Operation now in progress)
+0...0.300 accept(3, ..., ...) = 4
+0 writev(4, [{..., 1000}, {..., 500}], 2) = 1500
+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
+0 write(4, "hello" "world"..., 10) = 10
+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
`);
    const blocking = s.events[3] as SyscallEvent;
    expect(blocking.end).to.deep.equal({ kind: 'relative', ms: 300 });
    const sock = s.events[0] as SyscallEvent;
    expect(sock.args[1]).to.deep.equal({ kind: 'binary', op: '|', lhs: { kind: 'word', name: 'SOCK_STREAM' }, rhs: { kind: 'word', name: 'SOCK_NONBLOCK' } });
    const conn = s.events[2] as SyscallEvent;
    expect(conn.args[1].kind).to.equal('struct');
    expect(conn.errno).to.equal('EINPROGRESS');
    const wv = s.events[4] as SyscallEvent;
    expect(wv.args[1]).to.deep.equal({ kind: 'list', items: [
      { kind: 'struct', items: [{ kind: 'ellipsis' }, { kind: 'int', value: 1000 }] },
      { kind: 'struct', items: [{ kind: 'ellipsis' }, { kind: 'int', value: 500 }] },
    ] });
    const w = s.events[6] as SyscallEvent;
    expect(w.args[1]).to.deep.equal({ kind: 'string', value: 'helloworld', trailingEllipsis: true });
  });

  it('turns what it cannot run into unsupported events with their lines', () => {
    const s = parseScript(`0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 \`sysctl -q net.ipv4.tcp_sack=0\`
+0 %{ assert tcpi_snd_cwnd == 10 }%
+0 < udp (1000)
+0 > icmp unreachable port_unreachable [1:1(0)]
+0 < ipv6 fd3d::1 > fd3d::2: S 0:0(0) win 1000
+0 %{
print("multi
line")
}%
+0 close(3) = 0
`);
    const kinds = s.events.map((e) => e.type === 'unsupported' ? `${e.line}:${e.construct}` : `${e.line}:${e.type}`);
    expect(kinds).to.deep.equal([
      '1:syscall', '2:shell command', '3:tcp_info assertion (python code block)', '4:udp packet', '5:icmp packet',
      '6:ipv6 encapsulated packet', '7:python code block', '11:syscall',
    ]);
  });

  it('rejects malformed packets with a line number', () => {
    expect(() => parseScript('0 < S 0:10(0) win 1')).to.throw(ScriptSyntaxError, /line 1: inconsistent/);
    expect(() => parseScript('0 socket()=3\n+0 < S 0:0(0)')).to.throw(ScriptSyntaxError, /line 2: window must be specified/);
    expect(() => parseScript('\n\n0 < S 0:0(0) win 1 <mss 1460,wscale 7>')).to.throw(ScriptSyntaxError, /line 3: .*padded/);
    expect(() => parseScript('0 < . 1:1(0) ack 1 win 1 <...>')).to.throw(ScriptSyntaxError, /outbound/);
    expect(() => parseScript('0 > X 1:1(0)')).to.throw(ScriptSyntaxError, /invalid TCP flags/);
    expect(() => parseScript('* write(3, ..., 1) = 1')).to.throw(ScriptSyntaxError, /outbound packets/);
    expect(() => parseScript('0 > S 0:0(0) <bogus 3>')).to.throw(ScriptSyntaxError, /unknown or unsupported TCP option/);
  });

  it('parses the no-flag form, explicit ports and ECN prefixes', () => {
    const s = parseScript('0 < - 1:1(0) win 10\n0 > [ect0] 8080>1234 S. 0:0(0) ack 1 win 5');
    expect((s.events[0] as PacketEvent).flags).to.equal('');
    const p = s.events[1] as PacketEvent;
    expect(p.ipInfo).to.equal('ect0');
    expect(p.ports).to.deep.equal({ src: 8080, dst: 1234 });
  });
});
