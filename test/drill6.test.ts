import { expect } from 'chai';
import fc from 'fast-check';
import { runScriptText } from '../src/drill/interpreter.js';
import { builtinProfiles } from '../src/drill/defaults.js';
import { addrBytes6, decodeIpv6, encodeIpv6, formatAddr6 } from '../src/drill/packet6.js';
import { parseIcmp6Line } from '../src/drill/icmp6.js';
import { formatIpv6, parseIpv6 } from '../src/ip/addr6.js';
import { pinnedSeed } from './helpers/seed.js';

const linux = (): ReturnType<typeof builtinProfiles>['linux'] => builtinProfiles().linux;

// Passive open over IPv6 at the built-in MTU 1500: MSS 1440.
const OPEN6 = `--ip_version=ipv6
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0    < S 0:0(0) win 65535 <mss 1440,sackOK,TS val 100 ecr 0,nop,wscale 7>
`;

describe('drill: --ip_version=ipv6', () => {
  it('runs a handshake over the stack\'s IPv6 layer (MSS 1440 at MTU 1500)', () => {
    const r = runScriptText(`${OPEN6}+0 > S. 0:0(0) ack 1 <mss 1440,sackOK,TS val 200 ecr 100,nop,wscale 8>\n`, { profile: linux() });
    expect(r.status, r.message).to.equal('pass');
  });

  it('checks the hop limit of our packets ((ttl N) is the hop limit)', () => {
    const r = runScriptText(`${OPEN6}+0 > (ttl 63) S. 0:0(0) ack 1 <...>\n`, { profile: linux() });
    expect(r.status).to.equal('fail');
    expect(r.message).to.match(/hop limit: expected 63 vs actual 64/);
  });

  it('maps flow labels as packetdrill: a new script label needs a new live label', () => {
    const ok = runScriptText(`${OPEN6}+0 > (flowlabel 0x7) S. 0:0(0) ack 1 <...>
+.01 < . 1:1(0) ack 1 win 514 <nop,nop,TS val 110 ecr 200>
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 10) = 10
+0 > (flowlabel 0x7) P. 1:11(10) ack 1 <...>
`, { profile: linux() });
    expect(ok.status, ok.message).to.equal('pass');
    const bad = runScriptText(`${OPEN6}+0 > (flowlabel 0x7) S. 0:0(0) ack 1 <...>
+.01 < . 1:1(0) ack 1 win 514 <nop,nop,TS val 110 ecr 200>
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 10) = 10
+0 > (flowlabel 0x8) P. 1:11(10) ack 1 <...>
`, { profile: linux() });
    expect(bad.status).to.equal('fail');
    expect(bad.message).to.match(/expected a different label/);
  });

  it('lets --set ip_version override the script\'s --ip_version, as packetdrill\'s command line does', () => {
    const script = `--ip_version=ipv4
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1440,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1440,nop,wscale 8>
`;
    expect(runScriptText(script, { profile: linux() }).status).to.equal('fail'); // IPv4: MSS 1460
    expect(runScriptText(script, { profile: linux(), overrides: [['ip_version', 'ipv6']] }).status).to.equal('pass');
  });

  it('skips what the family cannot run, never passes it', () => {
    const v4 = runScriptText('0 socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3\n', { profile: linux() });
    expect(v4.status).to.equal('skipped');
    expect(v4.message).to.match(/IPv6 socket in an IPv4 run/);
    const v6 = runScriptText('--ip_version=ipv6\n0 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3\n', { profile: linux() });
    expect(v6.status).to.equal('skipped');
    const ttl4 = runScriptText('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > (ttl 64) S 0:0(0) <...>\n', { profile: linux() });
    expect(ttl4.message).to.match(/TTL of an outbound packet/);
  });

  it('injects ICMPv6 errors: port unreachable for the SYN ends a connect with ECONNREFUSED', () => {
    const r = runScriptText(`--ip_version=ipv6
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <mss 1440,sackOK,TS val 100 ecr 0,nop,wscale 8>
+.1 < icmp unreachable port_unreachable [0:0(0)]
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
`, { profile: linux() });
    expect(r.status, r.message).to.equal('pass');
  });

  it('reads ICMPv6 lines with packetdrill\'s names and refuses ICMPv4 codes', () => {
    expect(parseIcmp6Line('< icmp packet_too_big mtu 1280 [ 1 : 1001 ( 1000 ) ]')).to.deep.equal({ type: 2, code: 0, mtu: 1280, seq: 1, len: 1000 });
    expect(parseIcmp6Line('< icmp unreachable admin_prohibited [ 0 : 0 ( 0 ) ]')).to.deep.include({ type: 1, code: 1 });
    expect(parseIcmp6Line('< icmp unreachable frag_needed mtu 800')).to.be.a('string');
    expect(parseIcmp6Line('> icmp unreachable port_unreachable')).to.be.a('string');
  });

  it(`IPv6 codec: addresses round-trip with the stack's text form, headers with their fields (seed ${pinnedSeed(61)})`, () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 0xfffff }), fc.uint8Array({ maxLength: 64 }), (groups, tclass, flowLabel, payload) => {
        const b = new Uint8Array(16);
        groups.forEach((g, i) => { b[2 * i] = g >>> 8; b[2 * i + 1] = g & 0xff; });
        const text = formatAddr6(b);
        expect(text).to.equal(formatIpv6(parseIpv6(text)));
        expect(addrBytes6(text)).to.deep.equal(b);
        const p = decodeIpv6(encodeIpv6({ tclass, flowLabel, hopLimit: 9, nextHeader: 6, src: b, dst: b }, payload));
        if (typeof p === 'string') throw new Error(p);
        expect([p.tclass, p.flowLabel, p.hopLimit, p.payloadLen]).to.deep.equal([tclass, flowLabel, 9, payload.length]);
      }), { seed: pinnedSeed(61), numRuns: 300 });
  });
});
