/**
 * Bringing a stack up from command-line flags, shared by every subcommand
 * that runs one (`serve`, `fetch`, `bench`): the device (DPDK or in-memory),
 * the optional impairment and capture decorators, the Stack itself, and an
 * orderly shutdown that reports every counter and checks the pool.
 */
import type { Mempool } from '../mbuf/mempool.js';
import { TsMempool } from '../mbuf/ts-mempool.js';
import { ImpairedPort, parseImpairSpec, type ImpairStats, type ParsedImpairSpec } from '../pmd/impaired.js';
import { createLinkPair } from '../pmd/memory-link.js';
import { PcapPort } from '../pmd/pcap.js';
import type { Port, PortStats } from '../pmd/port.js';
import { Stack } from '../stack.js';
import { cidrArg, intIn, ipv4Arg, nonEmpty, type FlagSpec } from './args.js';

/** The devargs value that selects the in-memory link instead of DPDK. */
export const MEM_DEV = 'mem';

/** Flags every stack-running subcommand accepts (spread them into a CommandSpec). */
export const STACK_FLAGS: FlagSpec[] = [
  {
    name: 'dev', value: '<devargs>', required: true, parse: nonEmpty,
    help: 'The device: DPDK devargs such as net_af_packet0,iface=veth0 or net_tap0,iface=tz0 or a PCI address, '
      + `or '${MEM_DEV}' for an in-memory link with nobody on the other end (no DPDK needed; for smoke tests).`,
  },
  { name: 'ip', value: '<a.b.c.d/len>', required: true, parse: cidrArg, help: "The stack's address and prefix length." },
  { name: 'gateway', value: '<a.b.c.d>', parse: ipv4Arg, help: 'Next hop for destinations outside the subnet.' },
  {
    name: 'pcap', value: '<file>', parse: nonEmpty,
    help: 'Write every frame the stack receives and transmits to this pcap file (readable by tcpdump, tshark, Wireshark). '
      + 'With --impair it records what the stack saw: after impairment on receive, before it on transmit.',
  },
  {
    name: 'impair', value: '<spec>', parse: parseImpairSpec,
    help: 'Impair the link on purpose: comma-separated loss=P, dup=P, reorder=P, gap=N, corrupt=P (probabilities 0..1 or N%), '
      + 'delay=MS, jitter=MS, rate=N[bit|kbit|mbit|gbit] (bytes/s without a unit), burst=BYTES, queue=BYTES, seed=N, '
      + 'dir=rx|tx|both (default both). Example: loss=0.02,delay=5,seed=7.',
  },
  { name: 'mem', value: '<MB>', default: '256', parse: intIn(16, 65536), help: 'Memory given to DPDK, in MB (no hugepages are used).' },
  { name: 'mbufs', value: '<n>', default: '8191', parse: intIn(256, 1 << 20), help: 'Packet buffers in the pool.' },
  {
    name: 'mtu', value: '<bytes>', parse: intIn(576, 9000),
    help: 'IP MTU of the port (default: what the device reports, 1500 for mem); up to 9000 for jumbo frames. '
      + 'TCP announces an MSS of MTU - 40. DPDK 22.11 net_tap refuses more than 1500.',
  },
  {
    name: 'busy-poll',
    help: 'Poll without ever sleeping (one core at 100 %): the lowest latency. By default the poll loop sleeps 1-4 ms after a stretch of idle polls.',
  },
  {
    name: 'ip6', value: '<addr/len,...>', parse: nonEmpty,
    help: 'Also run IPv6 (ND, ICMPv6: ping -6 answers) with these static addresses, e.g. fd00::1/64; the EUI-64 link-local address comes up in any case. TCP (the services of serve listen on :: for both families) and UDP sockets run over IPv6 too.',
  },
  { name: 'gateway6', value: '<addr>', parse: nonEmpty, help: 'IPv6 default router (otherwise learnt from router advertisements).' },
  {
    name: 'syn-cookies', value: '<auto|always|never>', parse: oneOfCookies,
    help: 'SYN cookies (RFC 4987): when the SYN queue is full (auto, the default), for every SYN, or never.',
  },
  { name: 'syn-backlog', value: '<n>', parse: intIn(1, 1 << 20), help: 'Half-open connections a listener keeps (default 511).' },
  { name: 'backlog', value: '<n>', parse: intIn(1, 1 << 20), help: 'Established connections waiting for accept per listener (default 511, as Node).' },
];

function oneOfCookies(s: string): 'auto' | 'always' | 'never' {
  if (s !== 'auto' && s !== 'always' && s !== 'never') throw new Error(`'${s}' is not one of auto, always, never`);
  return s;
}

/** Stack options taken from {@link STACK_FLAGS}. */
export interface StackFlagValues {
  dev: string;
  ip: string;
  gateway?: string;
  pcap?: string;
  impair?: ParsedImpairSpec;
  mem: number;
  mbufs: number;
  mtu?: number;
  busyPoll?: boolean;
  ip6?: string[];
  gateway6?: string;
  synCookies?: 'auto' | 'always' | 'never';
  synBacklog?: number;
  backlog?: number;
}

/** Pick the {@link STACK_FLAGS} values out of parsed flags. */
export function stackFlagValues(v: Record<string, unknown>): StackFlagValues {
  return {
    dev: v.dev as string,
    ip: v.ip as string,
    gateway: v.gateway as string | undefined,
    pcap: v.pcap as string | undefined,
    impair: v.impair as ParsedImpairSpec | undefined,
    mem: v.mem as number,
    mbufs: v.mbufs as number,
    mtu: v.mtu as number | undefined,
    busyPoll: v['busy-poll'] === true,
    ip6: typeof v.ip6 === 'string' ? v.ip6.split(',').map((x) => x.trim()).filter((x) => x !== '') : undefined,
    gateway6: v.gateway6 as string | undefined,
    synCookies: v['syn-cookies'] as 'auto' | 'always' | 'never' | undefined,
    synBacklog: v['syn-backlog'] as number | undefined,
    backlog: v.backlog as number | undefined,
  };
}

/** A running stack and everything under it. */
export interface Bringup {
  stack: Stack;
  pool: Mempool;
  /** The device port (DPDK or in-memory), below any decorator. */
  device: Port;
  impaired?: ImpairedPort;
  pcap?: PcapPort;
  /** One-line description for logs. */
  describe(): string;
  /**
   * Stop and close the stack (every mbuf back), close the device and DPDK,
   * and return every counter, including how many mbufs were still taken.
   */
  shutdown(): Promise<ShutdownReport>;
}

/** What {@link Bringup.shutdown} reports (and `--stats` writes as JSON). */
export interface ShutdownReport {
  dev: string;
  ip: string;
  /** Stack counters and port stats, as `stack.stats()` gives them. */
  stack: unknown;
  /** TCP counters (when the stack's own stats do not carry them). */
  tcp?: unknown;
  /** The device's own counters at shutdown. */
  port: PortStats;
  /** Impairment counters and the seed that replays them. */
  impair?: ImpairStats & { seed: number };
  pcap?: { path: string; frames: number; bytes: number; truncated: number };
  pool: { name: string; capacity: number; inUseAtExit: number };
  /** Extra per-subcommand data (e.g. TCP service counters). */
  [extra: string]: unknown;
}

/** MAC address as aa:bb:cc:dd:ee:ff. */
export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Open the device named by `--dev`, decorate it as `--impair` and `--pcap`
 * ask, and build a Stack on it (not started).
 * @throws Error with a one-line message when the device or DPDK cannot be set up
 */
export async function bringUp(o: StackFlagValues): Promise<Bringup> {
  let pool: Mempool;
  let device: Port;
  let peer: Port | undefined;
  let closeDpdk: () => void = () => {};
  if (o.dev === MEM_DEV) {
    pool = new TsMempool({ count: o.mbufs, name: 'tzstack-mem' });
    [device, peer] = createLinkPair(pool, { mtu: o.mtu });
  } else {
    const { Dpdk, isPciAddress } = await import('../pmd/dpdk.js');
    // A real NIC wants hugepages and EAL's PCI allow-list; virtual devices run anywhere without them.
    const pci = isPciAddress(o.dev);
    const dpdk = Dpdk.init(pci ? { memMb: o.mem, hugepages: true, pci: [o.dev] } : { memMb: o.mem });
    closeDpdk = () => dpdk.close();
    try {
      const p = dpdk.createPool({ count: o.mbufs, name: 'tzstack' });
      pool = p;
      device = dpdk.openPort(o.dev, { pool: p, mtu: o.mtu });
    } catch (e) {
      dpdk.close();
      throw e;
    }
  }
  let port: Port = device;
  let impaired: ImpairedPort | undefined;
  let pcap: PcapPort | undefined;
  try {
    if (o.impair) port = impaired = new ImpairedPort(port, { seed: o.impair.seed, tx: o.impair.tx, rx: o.impair.rx });
    if (o.pcap) port = pcap = new PcapPort(port, { path: o.pcap });
  } catch (e) {
    port.close();
    closeDpdk();
    throw e;
  }
  let stack: Stack;
  try {
    stack = new Stack({
      port, ip: o.ip, gateway: o.gateway, idleBackoff: o.busyPoll !== true,
      ip6: o.ip6 !== undefined || o.gateway6 !== undefined ? { addresses: o.ip6 ?? [], gateway: o.gateway6 } : undefined,
      tcp: {
        ...(o.synCookies !== undefined ? { synCookies: o.synCookies } : {}),
        ...(o.synBacklog !== undefined ? { synBacklog: o.synBacklog } : {}),
        ...(o.backlog !== undefined ? { backlog: o.backlog } : {}),
      },
    });
  } catch (e) {
    port.close();
    peer?.close();
    closeDpdk();
    throw e;
  }
  let done: Promise<ShutdownReport> | undefined;
  const shutdown = async (): Promise<ShutdownReport> => {
    stack.stop();
    const portStats = { ...device.stats };
    let stackStats = stack.stats();
    await stack.close();
    peer?.close();
    let finalPort = portStats;
    try {
      finalPort = { ...device.stats };
      stackStats = stack.stats();
    } catch { /* a closed device may not answer: keep what was read before */ }
    const report: ShutdownReport = {
      dev: o.dev,
      ip: o.ip,
      stack: stackStats,
      port: finalPort,
      pool: { name: pool.name, capacity: pool.capacity, inUseAtExit: pool.inUse() },
    };
    if (!('tcp' in (stackStats as object))) report.tcp = JSON.parse(JSON.stringify(stack.tcp.counters)) as unknown;
    if (impaired && o.impair) report.impair = { seed: o.impair.seed, ...impaired.impairStats };
    if (pcap && o.pcap) report.pcap = { path: o.pcap, ...pcap.pcapStats };
    closeDpdk();
    return report;
  };
  return {
    stack, pool, device, impaired, pcap,
    describe: () => `${o.ip} mac ${formatMac(stack.mac)} on ${o.dev}`
      + (o.impair ? ' (impaired)' : '') + (o.pcap ? ` (capturing to ${o.pcap})` : ''),
    shutdown: () => (done ??= shutdown()),
  };
}
