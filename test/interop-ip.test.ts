/**
 * tzstack against a real Linux host: a Stack over DPDK (`net_af_packet` on a
 * veth, or `net_tap` moved into the namespace) answers ping from the
 * namespace, gets into its neighbour table, and survives malformed frames
 * crafted with scapy there, counting each as a drop.
 *
 * Shares the process's single `Dpdk.init()` with the other DPDK tests.
 */
import { expect } from 'chai';
import type { DpdkMempool, DpdkPort } from '../src/pmd/dpdk.js';
import { Stack } from '../src/stack.js';
import { macString } from './helpers/frames.js';
import { closeInterop, createTapNs, createVethNs, interopSuite, tapName, type TestNet } from './helpers/netns.js';

const PREFIX = 'tzA';
/** Debian's python3 has scapy; the first python3 on PATH may not. */
const PYTHON = '/usr/bin/python3';

/** A scapy script sending the malformed frames, one of each kind. */
function malformedScript(iface: string, dstMac: string, srcMac: string, dstIp: string, srcIp: string): string {
  return `
from scapy.all import Ether, IP, ICMP, ARP, Raw, sendp
e = Ether(dst='${dstMac}', src='${srcMac}')
ok = IP(src='${srcIp}', dst='${dstIp}')/ICMP(id=7, seq=1)/Raw(b'x' * 16)
frames = [
  bytes(e / ok)[:14 + 10],                                 # truncated IPv4 header
  e / IP(src='${srcIp}', dst='${dstIp}', chksum=0x1234) / ICMP(),   # bad header checksum
  e / IP(src='${srcIp}', dst='${dstIp}', ihl=4) / ICMP(),          # IHL < 5
  e / IP(src='${srcIp}', dst='${dstIp}', ihl=15) / ICMP(),         # IHL past the frame
  e / IP(src='${srcIp}', dst='${dstIp}', len=1000) / ICMP(),       # total length > frame
  Ether(dst='${dstMac}', src='${srcMac}', type=0x88b5) / Raw(b'z' * 46),   # unknown ethertype
  Ether(dst='${dstMac}', src='${srcMac}', type=0x0806) / Raw(bytes(ARP(op=1, psrc='${srcIp}', pdst='${dstIp}'))[:10]),  # truncated ARP
  Ether(dst='${dstMac}', src='${srcMac}') / ARP(op=1, hwlen=8, psrc='${srcIp}', pdst='${dstIp}'),  # bad hardware length
]
sendp(frames, iface='${iface}', verbose=False)
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sumDrops(stack: Stack): number {
  let n = 0;
  for (const layer of Object.values(stack.counters)) for (const v of Object.values(layer.drops)) n += v;
  return n;
}

interopSuite('interop: IPv4 with a Linux host', PREFIX, {
  timeoutMs: 60000,
  needs: [
    { cmd: [PYTHON, '-c', 'import scapy'], missing: `${PYTHON} has no scapy (apt-get install python3-scapy)` },
    { cmd: ['ping', '-V'], missing: 'ping is not installed (apt-get install iputils-ping)' },
  ],
}, (ctx) => {
  for (const kind of ['net_af_packet', 'net_tap'] as const) {
    describe(`over ${kind}`, () => {
      let pool: DpdkMempool;
      let port: DpdkPort | undefined;
      let net: TestNet | undefined;
      let stack: Stack | undefined;
      let startInUse = 0;

      before(() => {
        const subnet = kind === 'net_af_packet' ? '10.71.20' : '10.71.21';
        pool = ctx.dpdk.createPool({ count: 4096 });
        startInUse = pool.inUse();
        if (kind === 'net_af_packet') {
          net = createVethNs(PREFIX, subnet);
          port = ctx.dpdk.openPort((net as ReturnType<typeof createVethNs>).devargs, { pool });
        } else {
          const tap = tapName(PREFIX);
          port = ctx.dpdk.openPort(`net_tap0,iface=${tap}`, { pool });
          net = createTapNs(PREFIX, subnet, tap);
        }
        stack = new Stack({ port, ip: `${net.nearIp}/24` });
        stack.start();
      });

      after(() => closeInterop(ctx, { stack, port, net, pool, startInUse }));

      it('answers 5 pings from the namespace', async () => {
        const r = await net!.runAsync(['ping', '-c', '5', '-i', '0.2', '-W', '2', net!.nearIp], 20000);
        expect(r.stdout, r.stdout + r.stderr).to.match(/5 packets transmitted, 5 received/);
        expect(r.status).to.equal(0);
      });

      it("gets into the namespace's neighbour table with its MAC", () => {
        expect(net!.neighbour(net!.nearIp)).to.include(`lladdr ${macString(stack!.mac)}`);
      });

      it('counts malformed frames as drops and keeps answering', async () => {
        const s = stack!;
        const before = sumDrops(s);
        const ip0 = { ...s.counters.ip.drops };
        const eth0 = { ...s.counters.eth.drops };
        const arp0 = { ...s.counters.arp.drops };
        const farMac = net!.exec(['cat', `/sys/class/net/${net!.farIf}/address`]).trim();
        const script = malformedScript(net!.farIf, macString(s.mac), farMac, net!.nearIp, net!.farIp);
        const r = await net!.runAsync([PYTHON, '-c', script], 30000);
        expect(r.status, r.stderr).to.equal(0);
        const end = Date.now() + 5000;
        while (sumDrops(s) < before + 8 && Date.now() < end) await sleep(20);
        const d = (now: Record<string, number>, was: Record<string, number>, k: string) => (now[k] ?? 0) - (was[k] ?? 0);
        const ip = s.counters.ip.drops;
        expect(d(ip, ip0, 'badChecksum'), 'bad checksum').to.be.at.least(1);
        expect(d(ip, ip0, 'badIhl'), 'IHL < 5').to.be.at.least(1);
        expect(d(ip, ip0, 'ihlPastFrame') + d(ip, ip0, 'headerSplit'), 'IHL past the frame').to.be.at.least(1);
        expect(d(ip, ip0, 'truncated'), 'truncated header and oversize total length').to.be.at.least(2);
        expect(d(s.counters.eth.drops, eth0, 'unknownEthertype'), 'unknown ethertype').to.be.at.least(1);
        expect(d(s.counters.arp.drops, arp0, 'truncated'), 'truncated ARP').to.be.at.least(1);
        expect(d(s.counters.arp.drops, arp0, 'badHlen'), 'ARP hardware length').to.be.at.least(1);
        expect(sumDrops(s)).to.be.at.least(before + 8);
        expect(s.isRunning).to.equal(true);
        const p = await net!.runAsync(['ping', '-c', '2', '-i', '0.2', '-W', '2', net!.nearIp], 20000);
        expect(p.stdout, p.stdout + p.stderr).to.match(/2 packets transmitted, 2 received/);
      });
    });
  }
});
