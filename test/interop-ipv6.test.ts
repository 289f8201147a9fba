/**
 * tzstack's IPv6 against a real Linux host: a Stack over DPDK's
 * `net_af_packet` on a veth pair, and over `net_tap` moved into the namespace, IPv6 attached with a static global
 * address and the EUI-64 link-local one, answers `ping -6` from a
 * namespace at both addresses, gets into the namespace's IPv6 neighbour
 * table with its MAC, and counts scapy-crafted bad IPv6 / ND frames each
 * under its own drop reason while it keeps answering.
 *
 * The namespace end keeps IPv6 on (the shared helper turns it off for the
 * IPv4 tests), its address without DAD; the near end has IPv6 off so the
 * kernel sends nothing of its own out of the interface DPDK owns.
 */
import { expect } from 'chai';
import { formatIpv6, parseIpv6 } from '../src/ip/addr6.js';
import { ipv6Of, ipv6Protocol } from '../src/ipv6-attach.js';
import { Addr6State } from '../src/ip/ipv6.js';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { macString } from './helpers/frames.js';
import { closeInterop, createTapNs6, createVethNs6, drainRx, interopSuite, nsRun, nsRunAsync, type Net6, type RunResult } from './helpers/netns.js';

const PREFIX = 'tz6';
const PYTHON = '/usr/bin/python3';
const NEAR_GA = 'fd00:71:22::1';
const FAR_GA = 'fd00:71:22::2';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Kind = 'net_af_packet' | 'net_tap';

function badFrames(iface: string, tzMac: string, farMac: string, tzLl: string, farLl: string): string {
  return `
from scapy.all import *
e = Ether(dst='${tzMac}', src='${farMac}')
e6 = Ether(dst='${tzMac}', src='${farMac}', type=0x86dd)   # for raw bytes, which scapy would not type
G, F, L, FL = '${NEAR_GA}', '${FAR_GA}', '${tzLl}', '${farLl}'
echo = ICMPv6EchoRequest(id=9, seq=1, data=b'x' * 16)
def raw6(pkt, **kw):
    b = bytearray(bytes(pkt))
    for k, v in kw.items():
        if k == 'plen': b[4:6] = v.to_bytes(2, 'big')
        if k == 'ver': b[0] = (v << 4) | (b[0] & 15)
    return bytes(b)
f1 = IPv6(src=F, dst=G)/IPv6ExtHdrFragment(id=7, m=1, offset=0, nh=58)/Raw(bytes(echo)[:16])
f2 = IPv6(src=F, dst=G)/IPv6ExtHdrFragment(id=7, m=1, offset=1, nh=58)/Raw(b'y' * 16)
frames = [
  e/IPv6(src=F, dst=G, hlim=0)/echo,                                                          # hopLimitZero
  e6/Raw(raw6(IPv6(src=F, dst=G)/echo, plen=1000)),                                            # truncated
  e6/Raw(raw6(IPv6(src=F, dst=G)/echo, ver=4)),                                               # badVersion
  e/IPv6(src=F, dst=G)/IPv6ExtHdrRouting(type=0, addresses=['fd00::99'], segleft=1)/echo,     # routingType0
  e/IPv6(src=F, dst=G, nh=253)/Raw(b'z' * 16),                                                # unknownProtocol
  e/IPv6(src=F, dst=G)/IPv6ExtHdrFragment(id=5, m=1, offset=0, nh=58)/Raw(b'q' * 13),         # badFragmentLength
  e/f1, e/f2,                                                                                 # overlap
  e/IPv6(src=F, dst=G)/IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop()/echo,                         # hopByHopNotFirst
  e/IPv6(src=F, dst=G)/ICMPv6EchoRequest(id=9, seq=2, cksum=0x1234),                          # icmp6 badChecksum
  e/IPv6(src=F, dst=G, hlim=64)/ICMPv6ND_NS(tgt=G)/ICMPv6NDOptSrcLLAddr(lladdr='${farMac}'),  # nd badHopLimit
  Ether(dst='33:33:00:00:00:01', src='${farMac}')/IPv6(src=F, dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt=F, S=1, R=0, O=1),  # nd solicitedToMulticast
  Ether(dst='33:33:00:00:00:01', src='${farMac}')/IPv6(src=F, dst='ff02::1', hlim=255)/ICMPv6ND_RA(),  # nd raNotLinkLocal
  e/IPv6(src=FL, dst=L, hlim=255)/ICMPv6ND_NS(tgt=L)/Raw(b'\\x01\\x00' + b'\\x00' * 6),       # nd badOptionLength
]
sendp(frames, iface='${iface}', verbose=False)
`;
}

interopSuite('interop: IPv6 with a Linux host', PREFIX, {
  timeoutMs: 90000,
  needs: [
    { cmd: [PYTHON, '-c', 'import scapy'], missing: `${PYTHON} has no scapy (apt-get install python3-scapy)` },
    { cmd: ['ping', '-V'], missing: 'ping is not installed (apt-get install iputils-ping)' },
  ],
}, (ctx) => {
  for (const kind of ['net_af_packet', 'net_tap'] as Kind[]) describe(`over ${kind}`, () => {
    let pool: DpdkMempool;
    let port: DpdkPort | undefined;
    let net: Net6 | undefined;
    let stack: Stack | undefined;
    let startInUse = 0;
    let tzLl = '';

    before(async () => {
      pool = ctx.dpdk.createPool({ count: 4096 });
      startInUse = pool.inUse();
      if (kind === 'net_af_packet') {
        const v = createVethNs6(PREFIX, FAR_GA);
        net = v;
        port = ctx.dpdk.openPort(`net_af_packet0,iface=${v.near}`, { pool });
      } else {
        const tap = `${PREFIX}${process.pid}t1`;
        port = ctx.dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
        // DPDK's net_tap gives the kernel's tap the port's own MAC: both ends would then form the same
        // EUI-64 link-local address, and DAD rightly refuses it. The kernel end takes another MAC.
        net = createTapNs6(PREFIX, tap, '02:71:22:00:00:02', FAR_GA);
        drainRx(port);
      }
      stack = new Stack({ port, ip: '10.71.22.1/24', protocols: [ipv6Protocol({ addresses: [`${NEAR_GA}/64`] })] });
      stack.start();
      const v6 = ipv6Of(stack)!;
      tzLl = formatIpv6(v6.ip6.addresses[0].addr);
      // DAD: one solicitation and a second's wait per address.
      const end = Date.now() + 10_000;
      while (v6.ip6.addresses.some((a) => a.state !== Addr6State.Preferred) && Date.now() < end) await sleep(50);
      expect(v6.ip6.addresses.map((a) => Addr6State[a.state])).to.deep.equal(['Preferred', 'Preferred']);
    });

    after(() => closeInterop(ctx, { stack, port, net, pool, startInUse }));

    const ping = (addr: string, n: number): Promise<RunResult> =>
      nsRunAsync(net!.ns, ['ping', '-6', '-c', String(n), '-i', '0.2', '-W', '2', addr], 20000);

    it("answers ping -6 at its global address", async () => {
      const r = await ping(NEAR_GA, 5);
      expect(r.stdout, r.stdout + r.stderr).to.match(/5 packets transmitted, 5 received/);
    });

    it('answers ping -6 at its link-local address (EUI-64 of its MAC)', async () => {
      expect(tzLl).to.equal(formatIpv6(parseIpv6(tzLl)));
      const r = await ping(`${tzLl}%${net!.far}`, 3);
      expect(r.stdout, r.stdout + r.stderr).to.match(/3 packets transmitted, 3 received/);
    });

    it("is in the namespace's IPv6 neighbour table with its MAC, and has the namespace's in its own", () => {
      const mac = macString(stack!.mac);
      for (const a of [NEAR_GA, tzLl]) {
        const line = nsRun(net!.ns, ['ip', '-6', 'neigh', 'show', a, 'dev', net!.far]).stdout.trim();
        expect(line, a).to.include(`lladdr ${mac}`);
      }
      const farMac = nsRun(net!.ns, ['cat', `/sys/class/net/${net!.far}/address`]).stdout.trim();
      expect(ipv6Of(stack!)!.nd.entries().find((e) => e.addr === FAR_GA)?.mac).to.equal(farMac);
    });

    it('counts scapy-crafted bad IPv6 and ND frames each under its own reason, and keeps answering', async () => {
      const s = stack!;
      const v6 = ipv6Of(s)!;
      const ip0 = { ...v6.ip6.counters.drops };
      const re0 = { ...v6.ip6.reassembly.counters.drops };
      const ic0 = { ...v6.icmp6.counters.drops };
      const nd0 = { ...v6.nd.counters.drops };
      const farMac = nsRun(net!.ns, ['cat', `/sys/class/net/${net!.far}/address`]).stdout.trim();
      const farLl = nsRun(net!.ns, ['sh', '-c', `ip -6 -o addr show dev ${net!.far} scope link | awk '{print $4}' | cut -d/ -f1`]).stdout.trim();
      expect(farLl).to.match(/^fe80:/);
      const r = await nsRunAsync(net!.ns, [PYTHON, '-c', badFrames(net!.far, macString(s.mac), farMac, tzLl, farLl)], 60000);
      expect(r.status, r.stderr).to.equal(0);
      const d = (now: Record<string, number>, was: Record<string, number>, k: string) => now[k] - was[k];
      const want: Array<[Record<string, number>, Record<string, number>, string]> = [
        [v6.ip6.counters.drops, ip0, 'hopLimitZero'], [v6.ip6.counters.drops, ip0, 'truncated'],
        [v6.ip6.counters.drops, ip0, 'badVersion'], [v6.ip6.counters.drops, ip0, 'routingType0'],
        [v6.ip6.counters.drops, ip0, 'unknownProtocol'], [v6.ip6.counters.drops, ip0, 'badFragmentLength'],
        [v6.ip6.counters.drops, ip0, 'hopByHopNotFirst'], [v6.ip6.reassembly.counters.drops, re0, 'overlap'],
        [v6.icmp6.counters.drops, ic0, 'badChecksum'], [v6.nd.counters.drops, nd0, 'badHopLimit'],
        [v6.nd.counters.drops, nd0, 'solicitedToMulticast'], [v6.nd.counters.drops, nd0, 'raNotLinkLocal'],
        [v6.nd.counters.drops, nd0, 'badOptionLength'],
      ];
      const end = Date.now() + 5000;
      while (want.some(([now, was, k]) => d(now, was, k) < 1) && Date.now() < end) await sleep(20);
      const all = { ip6: v6.ip6.counters.drops, reassembly6: v6.ip6.reassembly.counters.drops, icmp6: v6.icmp6.counters.drops, nd: v6.nd.counters.drops };
      const seen = JSON.stringify(Object.fromEntries(Object.entries(all).map(([l, c]) => [l, Object.fromEntries(Object.entries(c).filter(([, v]) => v > 0))])));
      for (const [now, was, k] of want) expect(d(now, was, k), `${k} (drops: ${seen})`).to.equal(1);
      expect(s.isRunning).to.equal(true);
      const p = await ping(NEAR_GA, 2);
      expect(p.stdout, p.stdout + p.stderr).to.match(/2 packets transmitted, 2 received/);
    });
  });
});
