/**
 * What one echo round trip costs over IPv6 against the same over IPv4, over
 * a fixed number of pings so that an instruction counter sees the same work
 * on every run: two stacks in this process on the TypeScript memory link
 * (checksums computed and checked), the peer a static neighbour on each
 * side, stack A pinging stack B with 56-byte payloads, one ping in flight.
 * Each round trip is two frames through two receive paths (B's echo reply
 * made in place, A's reply delivery) and A's echo request building.
 *
 * Figures per round trip: CPU ns (meaningless on a loaded machine; use the
 * instruction count), JS heap bytes allocated (over a stretch without a GC;
 * null when one ran).
 *
 * `node dist/bench/echo6cost.js [--family 4|6] [--pings N] [--warmup N] [--json]`
 * `bash bench/callgrind.sh --harness echo6 [PINGS] [WARMUP]` counts instructions of
 * the measured window for both families.
 */
import { callgrindInstrument } from './callgrind-window.js';
import { HeapMeter } from './heap-meter.js';
import { parseIpv4 } from '../src/ip/addr.js';
import { parseIpv6 } from '../src/ip/addr6.js';
import { ipv6Of, ipv6Protocol } from '../src/ipv6-attach.js';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { createLinkPair } from '../src/pmd/memory-link.js';
import { Stack } from '../src/stack.js';
import { VirtualClock } from '../src/util/clock.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const family = arg('family', 6);
const pings = arg('pings', 20000);
const warmup = arg('warmup', 50000);
const pool = new TsMempool({ count: 1024 });
const clock = new VirtualClock(1000);
const [pa, pb] = createLinkPair(pool, { checksumUnneeded: false });
const v6opts = (ga: string) => ipv6Protocol({ addresses: [ga], linkLocal: false, nd: { dadTransmits: 0, routerSolicitations: 0, mldReports: false } });
const a = new Stack({ port: pa, ip: '10.9.0.1/24', clock, protocols: [v6opts('fd00:9::1/64')] });
const b = new Stack({ port: pb, ip: '10.9.0.2/24', clock, protocols: [v6opts('fd00:9::2/64')] });
a.arp.addStatic(parseIpv4('10.9.0.2'), pb.caps.mac);
b.arp.addStatic(parseIpv4('10.9.0.1'), pa.caps.mac);
const a6 = ipv6Of(a)!;
const b6 = ipv6Of(b)!;
a6.nd.addStatic(parseIpv6('fd00:9::2'), pb.caps.mac);
b6.nd.addStatic(parseIpv6('fd00:9::1'), pa.caps.mac);
a.poll(); b.poll(); a.poll(); b.poll();

let replies = 0;
a6.icmp6.onEchoReply = () => { replies++; };
a.icmp.onEchoReply = () => { replies++; };
const dst6 = parseIpv6('fd00:9::2');
const dst4 = parseIpv4('10.9.0.2');
const payload = new Uint8Array(56);

function run(n: number): void {
  for (let i = 0; i < n; i++) {
    const want = replies + 1;
    if (family === 6) a6.icmp6.ping(dst6, 1, i & 0xffff, payload);
    else a.icmp.ping(dst4, 1, i & 0xffff, payload);
    a.poll();
    b.poll();
    a.poll();
    if (replies !== want) throw new Error(`echo6cost: ping ${i} got no reply`);
  }
}

run(warmup);
const heap = new HeapMeter();
heap.start();
callgrindInstrument(true);
const cpu0 = process.cpuUsage();
run(pings);
callgrindInstrument(false);
const cpu = process.cpuUsage(cpu0);
const allocated = heap.stop();
const res = {
  family, pings, cpuNsPerPing: ((cpu.user + cpu.system) * 1000) / pings,
  bytesPerPing: allocated.bytes / pings,
};
await a.close();
await b.close();
if (pool.inUse() !== 0) throw new Error(`echo6cost: ${pool.inUse()} mbufs left`);
console.log(process.argv.includes('--json') ? JSON.stringify(res) : res);
