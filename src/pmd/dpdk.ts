/**
 * DPDK ports and pools through the tzshim C library (native/pmd-shim).
 *
 * One {@link Dpdk} per process (EAL can be initialised only once). Pools are
 * {@link DpdkMempool}s seen through one zero-copy view; ports are
 * {@link DpdkPort}s that move mbuf offsets in and out with one native call
 * per burst, into and out of the caller's preallocated `Uint32Array`s.
 *
 * Single-pool rule: a port receives into the pool given to `openPort`, and
 * every mbuf handed to its `txBurst` must be an offset into that same pool
 * (indirect mbufs of that pool may reference any buffer of it). Offsets that
 * cannot belong to the pool are refused by the shim and counted, never sent.
 *
 * Device notes (DPDK 22.11 here): a lone `net_ring0` loops tx back to rx;
 * `net_memif` connects asynchronously and a sender's ring has room only
 * after the receiving side has polled once; `net_tap` keeps working after
 * its interface is moved into another namespace; `net_af_packet` wants
 * checksum offloads off on both veth ends.
 */
import koffi from 'koffi';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { LAYOUT_FIELDS, checkLayout } from '../mbuf/layout.js';
import {
  RX_OFFLOAD_IPV4_CKSUM, RX_OFFLOAD_TCP_CKSUM, TX_OFFLOAD_IPV4_CKSUM, TX_OFFLOAD_MULTI_SEGS, TX_OFFLOAD_TCP_CKSUM,
  TX_OFFLOAD_TCP_TSO,
} from '../mbuf/layout.js';
import { DpdkMempool, type DpdkMempoolOptions, type DpdkPoolHandle } from './dpdk-mempool.js';
import {
  DEFAULT_RSS_HASH_FUNCTIONS, defaultReta, rssHashFunctions, rssHfMask, symmetricRssKey, type RssConfig,
  type RssHashFunction,
} from './dpdk-rss.js';
import {
  INFO_COUNT, INFO_LINK_SPEED, INFO_LINK_UP, INFO_MAC, INFO_MAX_MTU, INFO_MAX_RXQ, INFO_MAX_RX_PKTLEN, INFO_MAX_TXQ,
  INFO_MIN_MTU, INFO_MTU, INFO_RX_CAPA, INFO_RX_DESC_MAX, INFO_TX_CAPA, INFO_TX_DESC_MAX, INFO_TX_SEG_MAX,
  STAT_COUNT, STAT_IBYTES, STAT_IERRORS, STAT_IMISSED, STAT_IPACKETS, STAT_OBYTES, STAT_OERRORS, STAT_OPACKETS,
  STAT_Q_ERRORS, STAT_QUEUES,
  LCORE_ID_ANY, STAT_RX_NOMBUF, STAT_TX_BAD_OFFSET, RSS_HF, RSS_INFO_COUNT, RSS_KEY_READ, RSS_KEY_SIZE, RSS_OFFLOADS,
  RSS_RETA_SET, RSS_RETA_SIZE, dpdkAvailability, loadShim, shimError, type Shim,
} from './dpdk-shim.js';
import { newPortStats, type Port, type PortCaps, type PortStats, type RxClock } from './port.js';

export { DpdkMempool, type DpdkMempoolOptions, type DpdkPoolHandle } from './dpdk-mempool.js';
export { dpdkAvailability, packageRoot, shimPath } from './dpdk-shim.js';
export {
  DEFAULT_RSS_HASH_FUNCTIONS, SYMMETRIC_RSS_KEY, pickLocalPort, rssHashIpv4, rssHashTcp4, rssQueueOf, symmetricRssKey, toeplitz,
  type RssConfig, type RssHashFunction,
} from './dpdk-rss.js';

/** RTE_ETH_TX_OFFLOAD_UDP_CKSUM / RTE_ETH_RX_OFFLOAD_UDP_CKSUM (bit 2). */
const OFFLOAD_UDP_CKSUM = 1 << 2;
/** Largest IPv4 payload: total length 65535 minus a 20-byte header. */
const MAX_TSO_PAYLOAD = 65535 - 20;
/** Where EAL (as root) keeps each file prefix's runtime files, which it leaves behind the process. */
export const RUNTIME_DIR = '/var/run/dpdk';
const PREFIX_BASE = 'tzstack';

/** Options for {@link Dpdk.init}. */
export interface DpdkInitOptions {
  /**
   * Memory for EAL in MB (`-m`). Without hugepages it defaults to 256 and is
   * ordinary memory; with hugepages it is hugepage memory, optional (EAL
   * then takes what it needs as it goes) and replaced by `socketMem`.
   */
  memMb?: number;
  /** EAL --file-prefix, unique per process (default `tzstack-<pid>`). */
  filePrefix?: string;
  /**
   * More EAL arguments, e.g. `['--vdev', 'net_ring0']` or `['--log-level', 'debug']`.
   * `--in-memory` is refused without hugepages (EAL rejects it with `--no-huge`:
   * "--legacy-mem is not compatible with --in-memory").
   */
  extraArgs?: string[];
  /**
   * PCI devices: false (default) passes `--no-pci` (virtual devices only);
   * true lets EAL probe every PCI device bound to a DPDK-capable driver;
   * a list allows only those (`-a` each, e.g. `['0000:3b:00.0']`, devargs
   * after a comma allowed). Real NICs want `hugepages: true` as well.
   */
  pci?: boolean | string[];
  /**
   * Run on hugepages (default false: `--no-huge`, which works anywhere but
   * gives memory a NIC cannot DMA into by physical address). Needs free
   * hugepages (/proc/meminfo HugePages_Free) and a hugetlbfs mount (not
   * with `--in-memory` in extraArgs).
   */
  hugepages?: boolean;
  /**
   * EAL cores: `-l` for a plain list such as `'2-5'` or `'1,3'`, `--lcores`
   * for a mapping such as `'(0-3)@2'`. Default: the first CPU this process
   * may run on. Node's main thread keeps its own CPU affinity whatever this
   * says (the shim restores it after EAL init).
   */
  lcores?: string;
  /** Hugepage MB per NUMA socket (`--socket-mem`, e.g. `[4096, 0]`); hugepages only. */
  socketMem?: number[] | string;
}

/** Options for {@link Dpdk.openPort}. */
export interface DpdkPortOptions {
  /** Pool the port receives into; every transmitted mbuf must come from it too. */
  pool: DpdkMempool;
  /** IP MTU to configure (default: the device's, normally 1500). */
  mtu?: number;
  /**
   * Offloads to enable when the device offers them (each defaults to true).
   * TX MULTI_SEGS is always enabled when offered; MBUF_FAST_FREE never is.
   */
  wantOffloads?: { tso?: boolean; txChecksum?: boolean; rxChecksum?: boolean };
  rxQueues?: number;
  txQueues?: number;
  /** Descriptors per queue (default 1024, adjusted to the device's limits). */
  ringSize?: number;
  /**
   * Declare that nothing between the ends can corrupt a frame, so checksums
   * may be skipped. Only accepted for `net_ring` and `net_memif` devices.
   */
  checksumUnneeded?: boolean;
  /**
   * Receive-side scaling, used when `rxQueues` > 1 and the device offers it
   * (`false` turns it off). `key` defaults to the symmetric 0x6d5a key of the
   * device's key size (both directions of a flow on the same queue) and must
   * be exactly that size when given (40 bytes on most NICs, 52 on i40e);
   * `hashFunctions` defaults to IPv4 and TCP over IPv4, masked by what the
   * device offers. The redirection table is programmed as entry i → queue
   * i % rxQueues. What was enabled is in {@link DpdkPort.rss}.
   */
  rss?: false | { key?: Uint8Array; hashFunctions?: readonly RssHashFunction[] };
}

/** Options for {@link Dpdk.openRingPair}. */
export interface DpdkRingPairOptions {
  /** Pool both ports receive into and transmit from. */
  pool: DpdkMempool;
  /** Slots per ring (default 4096; rounded up to a power of two). */
  ringSize?: number;
  /** Base of the device names, net_ring_<name>a / net_ring_<name>b (at most 23 characters; default unique per process). */
  name?: string;
  /**
   * Frames cross as mbuf pointers inside this process, so nothing can
   * corrupt them: checksums are skipped unless this is false (default true).
   */
  checksumUnneeded?: boolean;
}

/** Capabilities and state a device reports (before offloads are chosen). */
export interface DpdkDeviceInfo {
  readonly driverName: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly minMtu: number;
  readonly maxMtu: number;
  readonly maxRxPktLen: number;
  /** rx/tx offload capability bits; bits above 31 are dropped (tzstack uses none). */
  readonly rxOffloadCapa: number;
  readonly txOffloadCapa: number;
  readonly maxRxQueues: number;
  readonly maxTxQueues: number;
  readonly rxDescMax: number;
  readonly txDescMax: number;
  readonly txSegMax: number;
  readonly linkUp: boolean;
  readonly linkSpeedMbps: number;
  /** Kinds of packets the device can spread over queues by hash (`flow_type_rss_offloads`, named bits). */
  readonly rssOffloads: RssHashFunction[];
  /** Redirection table entries (0 = none). */
  readonly retaSize: number;
  /** RSS key size in bytes (0 = not reported). */
  readonly hashKeySize: number;
}

/** The device's own counters (`rte_eth_stats`). */
export interface DpdkHwStats {
  ipackets: number; opackets: number; ibytes: number; obytes: number;
  imissed: number; ierrors: number; oerrors: number; rxNoMbuf: number;
  /** Transmit offsets the shim refused because they lie outside the port's pool. */
  txBadOffset: number;
  /**
   * Per-queue error/drop counters (`q_errors[q]` for the port's queues:
   * drivers report receive drops or transmit errors there, where they count
   * per queue at all).
   */
  queueErrors: number[];
  /** net_af_packet only (else null): the kernel ring's packets and drops since the port opened. */
  kernel: { packets: number; drops: number } | null;
}

/** A started port as another thread of this process sees it (see {@link DpdkAttachHandle}). */
export interface DpdkPortHandle {
  portId: number;
  name: string;
  devargs: string;
  /** The shim id of the pool the port receives into. */
  poolId: number;
  caps: PortCaps;
  rxQueues: number;
  txQueues: number;
  rss: RssConfig | null;
}

/**
 * Everything a worker thread needs to use pools and port queues that the
 * main thread created, without initialising EAL again: pass it in
 * `workerData` (structured-clone safe) and call {@link Dpdk.attach} there.
 */
export interface DpdkAttachHandle {
  /** The process it belongs to: a handle means nothing in another process. */
  pid: number;
  filePrefix: string;
  pools: DpdkPoolHandle[];
  ports: DpdkPortHandle[];
}

/** Options for {@link Dpdk.attach}. */
export interface DpdkAttachOptions {
  /**
   * Register this thread with EAL as a non-EAL lcore (`rte_thread_register`,
   * default true), so mempool gets and puts use a per-lcore cache of its own
   * instead of the shared ring every time. Falls back silently to an
   * unregistered thread (still correct) when EAL has no lcore slot left.
   */
  registerThread?: boolean;
}

function low32(v: bigint): number { return Number(v & 0xffffffffn); }

/** What `tz_port_rss_info` says, with the key the device reports (if it can). */
interface RssState { hf: bigint; offloads: bigint; retaSize: number; keySize: number; retaSet: boolean; key: Uint8Array | null }

function readRss(shim: Shim, port: number, devargs: string): RssState {
  const b = new BigUint64Array(RSS_INFO_COUNT);
  const key = new Uint8Array(256);
  const r = shim.tz_port_rss_info(port, b, key, key.length);
  if (r !== 0) throw shimError(shim, `reading RSS state of ${devargs}`, r);
  const n = Number(b[RSS_KEY_READ]);
  return {
    hf: b[RSS_HF], offloads: b[RSS_OFFLOADS], retaSize: Number(b[RSS_RETA_SIZE]), keySize: Number(b[RSS_KEY_SIZE]),
    retaSet: b[RSS_RETA_SET] !== 0n, key: n > 0 ? key.slice(0, n) : null,
  };
}

function readInfo(shim: Shim, port: number, devargs: string, buf: BigUint64Array): DpdkDeviceInfo {
  const r = shim.tz_port_info(port, buf);
  if (r !== 0) throw shimError(shim, `reading device info of ${devargs}`, r);
  const rss = readRss(shim, port, devargs);
  const mac = new Uint8Array(6);
  let m = buf[INFO_MAC];
  for (let i = 0; i < 6; i++) { mac[i] = Number(m & 0xffn); m >>= 8n; }
  return {
    driverName: devargs.split(',')[0],
    mac,
    mtu: Number(buf[INFO_MTU]),
    minMtu: Number(buf[INFO_MIN_MTU]),
    maxMtu: Number(buf[INFO_MAX_MTU]),
    maxRxPktLen: Number(buf[INFO_MAX_RX_PKTLEN]),
    rxOffloadCapa: low32(buf[INFO_RX_CAPA]),
    txOffloadCapa: low32(buf[INFO_TX_CAPA]),
    maxRxQueues: Number(buf[INFO_MAX_RXQ]),
    maxTxQueues: Number(buf[INFO_MAX_TXQ]),
    rxDescMax: Number(buf[INFO_RX_DESC_MAX]),
    txDescMax: Number(buf[INFO_TX_DESC_MAX]),
    txSegMax: Number(buf[INFO_TX_SEG_MAX]),
    linkUp: buf[INFO_LINK_UP] !== 0n,
    linkSpeedMbps: Number(buf[INFO_LINK_SPEED]),
    rssOffloads: rssHashFunctions(rss.offloads),
    retaSize: rss.retaSize,
    hashKeySize: rss.keySize,
  };
}

/**
 * The RSS state of a started port: what the device says it uses when it can
 * say, otherwise what was asked for (the shim masks the hash functions by the
 * device's offer before configuring, so the asked key is the one in use).
 * Null when RSS ended up off (the device offers none of the hash functions).
 */
function rssConfig(shim: Shim, port: number, devargs: string, queues: number, asked: Uint8Array): RssConfig | null {
  const st = readRss(shim, port, devargs);
  if (st.hf === 0n) return null;
  let reta: Uint16Array | null = null;
  let retaKnown = false;
  if (st.retaSize > 0) {
    const t = new Uint16Array(st.retaSize);
    if (shim.tz_port_reta(port, t, t.length) === st.retaSize) { reta = t; retaKnown = true; }
    else if (st.retaSet) { reta = defaultReta(queues, st.retaSize); retaKnown = true; }
  }
  return {
    key: st.key ?? asked.slice(),
    hashFunctions: rssHashFunctions(st.hf),
    queues,
    reta: reta ?? defaultReta(queues, st.retaSize || 128),
    retaKnown,
  };
}

/** The lowest CPU this process may run on (EAL refuses an lcore outside the affinity mask). */
function firstAllowedCpu(): number {
  try {
    const m = /Cpus_allowed_list:\s*(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

let ringPairSeq = 0;

/** A PCI address (domain optional), with optional devargs after a comma. */
const PCI_ADDR_RE = /^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7](,.*)?$/i;

/**
 * Refuse to start EAL on hugepages that are not there (EAL would fail, and
 * cannot be initialised again in this process).
 */
function checkHugepages(inMemory: boolean): void {
  let free = 0;
  try {
    const base = '/sys/kernel/mm/hugepages';
    for (const d of readdirSync(base)) free += Number(readFileSync(`${base}/${d}/free_hugepages`, 'utf8').trim()) || 0;
  } catch {
    free = 0;
  }
  const setup = 'e.g. echo 2048 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages; '
    + 'mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages (bench/README.md)';
  if (free === 0) throw new Error(`tzstack: hugepages asked for but none are free: ${setup}`);
  if (inMemory) return;
  let mounted = false;
  try { mounted = /\shugetlbfs\s/.test(readFileSync('/proc/mounts', 'utf8')); } catch { mounted = false; }
  if (!mounted) throw new Error(`tzstack: hugepages asked for but no hugetlbfs is mounted (or pass --in-memory in extraArgs): ${setup}`);
}

/** Frames in each net_af_packet ring by default (DPDK's own default is 512). */
export const AF_PACKET_FRAMES = 16384;

/**
 * net_af_packet devargs with a kernel ring large enough for bursts from
 * thousands of connections. 3,000 connections from a namespace, each
 * connecting, sending 100 bytes and closing, on this loaded 2-core machine:
 * DPDK's default ring (512 frames of 2 KB) dropped 9,337 of 23,475 frames
 * in the kernel (314 RTOs followed); 8,192 frames dropped 2,016 once and 0
 * once; 16,384 and 32,768 dropped none. Without any of
 * blocksz/framesz/framecnt given, adds framecnt={@link AF_PACKET_FRAMES},
 * framesz 2048 (larger, a power of two, for an MTU above 1500) and blocksz
 * 64 KB: 32 MB of kernel memory per ring (rx and tx each) at MTU 1500. Devargs that size the ring themselves, and other devices, pass
 * through unchanged.
 */
export function withAfPacketRing(devargs: string, mtu?: number): string {
  if (!/^net_af_packet/.test(devargs) || /(?:^|,)(?:blocksz|framesz|framecnt)=/.test(devargs)) return devargs;
  // A frame slot holds the tpacket header (~66 bytes with alignment), Ethernet and VLAN headers and the packet.
  let framesz = 2048;
  while (framesz < (mtu ?? 1500) + 14 + 4 + 128) framesz *= 2;
  const blocksz = Math.max(65536, framesz);
  return `${devargs},blocksz=${blocksz},framesz=${framesz},framecnt=${AF_PACKET_FRAMES}`;
}

/** Whether a process id is alive (for sweeping runtime dirs of crashed runs). */
function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Remove EAL runtime directories that earlier, now dead, tzstack processes left behind. */
function sweepRuntimeDirs(): void {
  if (!existsSync(RUNTIME_DIR)) return;
  for (const d of readdirSync(RUNTIME_DIR)) {
    const m = new RegExp(`^${PREFIX_BASE}-(\\d+)$`).exec(d);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      rmSync(`${RUNTIME_DIR}/${d}`, { recursive: true, force: true });
    }
  }
}

/** This thread's rx clock (the shim keeps one per thread), made on first use. */
let threadRxClock: RxClock | null = null;

/**
 * The arrays the shim's burst tables hold, by queue handle (this isolate's
 * view of them): a queue whose array is not the one held registers it
 * again, so two objects over one queue never burst into each other's array.
 */
const REG_SLOTS = 8192; // above the shim's RTE_MAX_ETHPORTS x TZ_MAX_QUEUES handles (32 x 64 in Debian's DPDK)
const REG_RX = new Array<Uint32Array | null>(REG_SLOTS).fill(null);
const REG_TX = new Array<Uint32Array | null>(REG_SLOTS).fill(null);

/**
 * Hand `a` to the shim as its queue's burst array; returns the handle, or
 * a negative errno (the caller then bursts with the array as an argument).
 * The shim keeps the address past the call: reading `buffer` first moves a
 * small typed array's data off the JS heap (V8 keeps arrays of 64 bytes or
 * less on it, where the collector moves them), and the table keeps `a`
 * alive until another array takes its place.
 */
function registerArray(fn: (port: number, queue: number, a: Uint32Array, cap: number) => number,
  table: (Uint32Array | null)[], port: number, queue: number, a: Uint32Array): number {
  void a.buffer;
  const h = fn(port, queue, a, a.length);
  if (h >= REG_SLOTS) return -1;
  if (h >= 0) table[h] = a;
  return h;
}

function rxClockOf(shim: Shim): RxClock {
  if (threadRxClock !== null) return threadRxClock;
  const at = new BigUint64Array(1);
  shim.tz_rx_clock(at);
  const slot = new Float64Array(koffi.view(at[0], 8));
  // Both clocks are CLOCK_MONOTONIC (libuv's uv_hrtime under
  // performance.now()): one offset relates them, measured within a call's
  // time (under a microsecond), the reading least apart of a few.
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const c = shim.tz_clock_ms();
    const t1 = performance.now();
    if (t1 - t0 < best) { best = t1 - t0; offset = (t0 + t1) / 2 - c; }
  }
  slot[0] = performance.now() - offset;
  threadRxClock = { slot, offset };
  return threadRxClock;
}

/**
 * One receive and one transmit queue of a DPDK port. Queue 0 is the
 * {@link DpdkPort} itself; {@link DpdkPort.queue} gives the others.
 */
export class DpdkQueue implements Port {
  readonly name: string;
  readonly pool: DpdkMempool;
  readonly caps: PortCaps;
  /** See {@link Port.rxClock}: this thread's, shared by its DPDK queues. */
  readonly rxClock: RxClock;
  protected readonly _stats: PortStats = newPortStats();
  protected readonly shim: Shim;
  /** DPDK port id. */
  readonly portId: number;
  readonly queueId: number;
  protected closed = false;
  private droppedClosed = 0;
  private readonly qstatBuf = new BigUint64Array(6);
  /**
   * This queue's handle in the shim's tables of burst arrays (tz_rx_array,
   * tz_tx_array), shifted into place; -1 until the first burst. A burst
   * passes one integer, not a typed array and three (the Stack passes the
   * same two arrays every poll).
   */
  private rxArg = -1;
  private txArg = -1;

  /** @internal */
  constructor(shim: Shim, portId: number, queueId: number, name: string, pool: DpdkMempool, caps: PortCaps) {
    this.shim = shim;
    this.portId = portId;
    this.queueId = queueId;
    this.name = name;
    this.pool = pool;
    this.caps = caps;
    this.rxClock = rxClockOf(shim);
  }

  /**
   * Counters of this queue (packets and bytes through the bursts). The shim
   * keeps them, so the bursts run no per-packet loop in JavaScript; reading
   * this costs one native call.
   */
  get stats(): PortStats {
    if (!this.closed) this.refreshStats();
    return this._stats;
  }

  /** @internal Copy the shim's counters into {@link stats}. */
  refreshStats(): void {
    const b = this.qstatBuf;
    if (this.shim.tz_queue_stats(this.portId, this.queueId, b) !== 0) return;
    const s = this._stats;
    s.rxPackets = Number(b[0]);
    s.rxBytes = Number(b[1]);
    s.txPackets = Number(b[2]);
    s.txBytes = Number(b[3]);
    s.txDropped = Number(b[4]) + this.droppedClosed;
    s.txRefused = Number(b[5]);
  }

  rxBurst(out: Uint32Array, max: number): number {
    if (this.closed) {
      // No burst to read the clock: the poll must not see a stale time.
      this.rxClock.slot[0] = performance.now() - this.rxClock.offset;
      return 0;
    }
    let n = max < out.length ? max : out.length;
    if (n > 0xffff) n = 0xffff;
    if (this.rxArg < 0 || REG_RX[this.rxArg >>> 16] !== out) {
      const h = registerArray(this.shim.tz_rx_array, REG_RX, this.portId, this.queueId, out);
      if (h < 0) return this.shim.tz_rx_burst(this.portId, this.queueId, out, n);
      this.rxArg = h * 0x10000;
    }
    return this.shim.tz_rx_burst_reg(this.rxArg + n);
  }

  txBurst(pkts: Uint32Array, n: number): number {
    if (n <= 0) return 0;
    if (n > pkts.length) throw new RangeError(`txBurst: ${n} packets but the array holds ${pkts.length}`);
    if (this.closed) {
      this.pool.freeBulk(pkts, n);
      this.droppedClosed += n;
      this._stats.txDropped += n;
      return n;
    }
    // What the device does not take stays in pkts[k..n) for the caller (the shim counts it).
    if (n > 0xffff) return this.shim.tz_tx_burst_keep(this.portId, this.queueId, pkts, n);
    if (this.txArg < 0 || REG_TX[this.txArg >>> 16] !== pkts) {
      const h = registerArray(this.shim.tz_tx_array, REG_TX, this.portId, this.queueId, pkts);
      if (h < 0) return this.shim.tz_tx_burst_keep(this.portId, this.queueId, pkts, n);
      this.txArg = h * 0x10000;
    }
    return this.shim.tz_tx_burst_keep_reg(this.txArg + n);
  }

  /**
   * Stop using this queue (bursts return 0; transmits are freed and counted).
   * The device itself closes with its port (queue 0, in the thread that
   * opened it). The counters stay readable with their final values.
   */
  close(): void {
    if (this.closed) return;
    this.refreshStats();
    this.closed = true;
  }
}

/**
 * A started DPDK port (queue 0 of it, as a {@link Port}). Made by
 * {@link Dpdk.openPort}.
 */
export class DpdkPort extends DpdkQueue {
  /** The devargs the port was opened with. */
  readonly devargs: string;
  /** What the device reported when it was opened (after configuration). */
  readonly info: DpdkDeviceInfo;
  private readonly queues: DpdkQueue[];
  private readonly statBuf = new BigUint64Array(STAT_COUNT);
  private readonly infoBuf = new BigUint64Array(INFO_COUNT);
  /** The interface of a net_af_packet device (null for others). */
  private readonly afIface: string | null;
  private readonly afBuf = new BigUint64Array(3);
  private afLast: { packets: number; drops: number } | null = null;
  private readonly onClose: (p: DpdkPort) => void;
  /**
   * How received packets are spread over the rx queues (key, hash functions
   * in use, redirection table), or null when RSS is off (one rx queue, the
   * device offers none of the asked hash functions, or `rss: false`).
   */
  readonly rss: RssConfig | null;
  readonly rxQueues: number;
  readonly txQueues: number;

  /** @internal */
  constructor(shim: Shim, portId: number, devargs: string, pool: DpdkMempool, caps: PortCaps, info: DpdkDeviceInfo,
    rxQueues: number, txQueues: number, rss: RssConfig | null, onClose: (p: DpdkPort) => void) {
    super(shim, portId, 0, devargs.split(',')[0], pool, caps);
    this.devargs = devargs;
    this.afIface = /^net_af_packet/.test(devargs) ? (/(?:^|,)iface=([^,]+)/.exec(devargs)?.[1] ?? null) : null;
    this.info = info;
    this.rss = rss;
    this.rxQueues = rxQueues;
    this.txQueues = txQueues;
    this.onClose = onClose;
    this.queues = [this];
    for (let q = 1; q < Math.max(rxQueues, txQueues); q++) {
      this.queues.push(new DpdkQueue(shim, portId, q, `${this.name}:q${q}`, pool, caps));
    }
  }

  /** The port's queue `q` as a {@link Port} (queue 0 is this object). */
  queue(q: number): Port {
    const p = this.queues[q];
    if (!p) throw new RangeError(`${this.name} has ${this.queues.length} queues, not ${q + 1}`);
    return p;
  }

  /**
   * Counters of queue 0, with the drops of the whole device refreshed from
   * it: rxMissed, rxNoMbuf, rxErrors, rxKernelDrops (af_packet's ring),
   * their sum rxDropped, txErrors; txDropped also counts the device's
   * transmit errors and offsets refused as not of the pool.
   */
  override get stats(): PortStats {
    if (!this.closed) {
      this.refreshStats();
      const h = this.hwStats();
      const s = this._stats;
      s.rxMissed = h.imissed;
      s.rxNoMbuf = h.rxNoMbuf;
      s.rxErrors = h.ierrors;
      s.rxKernelDrops = h.kernel?.drops ?? 0;
      s.rxDropped = h.imissed + h.rxNoMbuf + h.ierrors + s.rxKernelDrops;
      s.txErrors = h.oerrors;
      s.txDropped += h.oerrors + h.txBadOffset;
    }
    return this._stats;
  }

  /** The device's own counters. */
  hwStats(): DpdkHwStats {
    const b = this.statBuf;
    const r = this.shim.tz_port_stats(this.portId, b);
    if (r !== 0) throw shimError(this.shim, `reading stats of ${this.name}`, r);
    return {
      ipackets: Number(b[STAT_IPACKETS]), opackets: Number(b[STAT_OPACKETS]),
      ibytes: Number(b[STAT_IBYTES]), obytes: Number(b[STAT_OBYTES]),
      imissed: Number(b[STAT_IMISSED]), ierrors: Number(b[STAT_IERRORS]), oerrors: Number(b[STAT_OERRORS]),
      rxNoMbuf: Number(b[STAT_RX_NOMBUF]), txBadOffset: Number(b[STAT_TX_BAD_OFFSET]),
      queueErrors: Array.from({ length: Math.min(STAT_QUEUES, Math.max(this.rxQueues, this.txQueues)) }, (_, q) => Number(b[STAT_Q_ERRORS + q])),
      kernel: this.kernelStats(),
    };
  }

  /** af_packet's kernel ring counters (null for other devices, or when the shim finds no socket). */
  private kernelStats(): { packets: number; drops: number } | null {
    if (this.afIface === null) return null;
    const b = this.afBuf;
    if (this.shim.tz_afpacket_stats(this.portId, this.afIface, b) !== 0 || b[2] === 0n) {
      return this.afLast;
    }
    this.afLast = { packets: Number(b[0]), drops: Number(b[1]) };
    return this.afLast;
  }

  /** Current link state. */
  link(): { up: boolean; speedMbps: number } {
    const i = readInfo(this.shim, this.portId, this.devargs, this.infoBuf);
    return { up: i.linkUp, speedMbps: i.linkSpeedMbps };
  }

  /**
   * Stop and unplug the device. Packets still waiting in its receive queues
   * are taken out and freed first (a `net_ring` would otherwise keep them).
   */
  override close(): void {
    if (this.closed) return;
    // Keep the final counts readable: the shim forgets them when the device goes.
    void this.stats;
    const buf = new Uint32Array(64);
    for (const q of this.queues) {
      for (let i = 0; i < 1024; i++) {
        const n = this.shim.tz_rx_burst(this.portId, q.queueId, buf, buf.length);
        if (n === 0) break;
        this.pool.freeBulk(buf, n);
      }
      q.refreshStats();
      if (q !== this) q.close();
    }
    // Queue 0's counters again with the device's drops (refreshStats alone leaves them out).
    void this.stats;
    this.closed = true;
    this.shim.tz_port_close(this.portId);
    this.onClose(this);
  }
}

/**
 * Pools and port queues of this process used from a worker thread: what
 * {@link Dpdk.attach} returns. Each queue must be used by one thread only
 * (DPDK's rule); the pools are shared, each thread with its own
 * {@link DpdkMempool} instance and stash. The main thread keeps ownership:
 * it closes ports and destroys pools, after its workers have called
 * {@link close}.
 */
export class DpdkAttached {
  /** This thread's EAL lcore id, or -1 when it is not registered (no per-lcore mempool cache). */
  readonly lcoreId: number;
  private readonly shim: Shim;
  private readonly pools = new Map<number, DpdkMempool>();
  private readonly ports: DpdkPortHandle[];
  private readonly queues: DpdkQueue[] = [];
  private readonly registered: boolean;
  private closed = false;

  /** @internal */
  constructor(shim: Shim, h: DpdkAttachHandle, register: boolean) {
    this.shim = shim;
    for (const ph of h.pools) this.pools.set(ph.id, DpdkMempool.attach(shim, ph));
    this.ports = h.ports;
    const already = shim.tz_lcore_id() !== LCORE_ID_ANY;
    const id = register ? shim.tz_thread_register() : already ? shim.tz_lcore_id() : -1;
    this.registered = register && !already && id >= 0;
    this.lcoreId = id >= 0 ? id : -1;
  }

  /** The pool with this shim id (`pool.poolId` in the main thread), or the only one when omitted. */
  pool(poolId?: number): DpdkMempool {
    if (poolId === undefined) {
      if (this.pools.size !== 1) throw new Error(`tzstack: the handle holds ${this.pools.size} pools; name one by poolId`);
      return this.pools.values().next().value!;
    }
    const p = this.pools.get(poolId);
    if (!p) throw new Error(`tzstack: pool ${poolId} is not in the attach handle`);
    return p;
  }

  /** The handle of a port (by DPDK port id or name) as the main thread opened it. */
  port(port: number | string): DpdkPortHandle {
    const h = this.ports.find((x) => x.portId === port || x.name === port);
    if (!h) throw new Error(`tzstack: port ${port} is not in the attach handle`);
    return h;
  }

  /**
   * Queue `q` of a port as a {@link Port} for this thread (receiving into,
   * and transmitting from, this thread's instance of the port's pool).
   */
  queue(port: number | string, q: number): DpdkQueue {
    this.checkOpen();
    const h = this.port(port);
    if (!(Number.isInteger(q) && q >= 0 && q < Math.max(h.rxQueues, h.txQueues))) {
      throw new RangeError(`${h.name} has ${Math.max(h.rxQueues, h.txQueues)} queues, not ${q + 1}`);
    }
    const dq = new DpdkQueue(this.shim, h.portId, q, `${h.name}:q${q}`, this.pool(h.poolId), h.caps);
    this.queues.push(dq);
    return dq;
  }

  /**
   * Stop using the queues, give this thread's stashed mbufs back to DPDK and
   * unregister the thread from EAL. Packets still in the queues' rings are
   * freed when the main thread closes the port.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queues) q.close();
    for (const p of this.pools.values()) p.destroy();
    if (this.registered) this.shim.tz_thread_unregister();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('tzstack: this DpdkAttached is closed');
  }
}

/** A PCI address (`0000:3b:00.0` or `3b:00.0`, devargs after a comma allowed): a real NIC, not a virtual device. */
export function isPciAddress(devargs: string): boolean {
  return /^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]($|,)/i.test(devargs);
}

/**
 * The process's DPDK environment (EAL). Create it with {@link Dpdk.init}.
 */
export class Dpdk {
  private static instance: Dpdk | undefined;
  private static closedOnce = false;
  /** The EAL arguments used. */
  readonly args: readonly string[];
  readonly filePrefix: string;
  private readonly shim: Shim;
  private readonly ports = new Set<DpdkPort>();
  private readonly pools = new Set<DpdkMempool>();
  private closed = false;

  private constructor(shim: Shim, args: string[], filePrefix: string) {
    this.shim = shim;
    this.args = args;
    this.filePrefix = filePrefix;
  }

  /** The rte_mbuf offsets this DPDK build reports, in LAYOUT_FIELDS order (no EAL needed). */
  static reportedLayout(): number[] {
    const offs = new Uint32Array(LAYOUT_FIELDS.length);
    loadShim().tz_layout(offs, offs.length);
    return [...offs];
  }

  /**
   * The EAL arguments {@link init} would use for `opts` (argv[0] first), after
   * checking that they go together.
   * @throws Error for contradicting options (`--in-memory` or `socketMem`
   *   without hugepages, a malformed PCI address or core list)
   */
  static ealArgs(opts: DpdkInitOptions = {}): string[] {
    const prefix = opts.filePrefix ?? `${PREFIX_BASE}-${process.pid}`;
    const extra = opts.extraArgs ?? [];
    const args = ['tzstack'];
    if (opts.hugepages) {
      if (opts.socketMem !== undefined) {
        const sm = typeof opts.socketMem === 'string' ? opts.socketMem : opts.socketMem.join(',');
        if (!/^\d+(,\d+)*$/.test(sm)) throw new Error(`tzstack: socketMem must be MB per socket such as 4096,0, not '${sm}'`);
        args.push('--socket-mem', sm);
      } else if (opts.memMb !== undefined) {
        args.push('-m', String(opts.memMb));
      }
    } else {
      // EAL refuses --in-memory with --no-huge ("--legacy-mem is not compatible
      // with --in-memory", then its usage text); say so clearly instead.
      if (extra.includes('--in-memory')) throw new Error('tzstack: --in-memory needs hugepages: pass hugepages: true, or drop --in-memory (without hugepages EAL keeps only its runtime directory on disk)');
      if (opts.socketMem !== undefined) throw new Error('tzstack: socketMem needs hugepages: true (use memMb without hugepages)');
      args.push('--no-huge', '-m', String(opts.memMb ?? 256));
    }
    args.push('--no-telemetry', '--file-prefix', prefix);
    if (opts.lcores !== undefined) {
      const l = opts.lcores.trim();
      if (/^\d+([-,]\d+)*$/.test(l)) args.push('-l', l);
      else if (/^[\d,()@\-]+$/.test(l)) args.push('--lcores', l);
      else throw new Error(`tzstack: lcores must be a core list such as 2-5 or a mapping such as (0-3)@2, not '${l}'`);
    } else {
      // One lcore: tzstack polls from Node's main thread; workers attach as non-EAL threads.
      args.push('-l', String(firstAllowedCpu()));
    }
    args.push('--log-level', 'lib.eal:warning');
    if (Array.isArray(opts.pci)) {
      for (const d of opts.pci) {
        if (!PCI_ADDR_RE.test(d)) throw new Error(`tzstack: '${d}' is not a PCI address such as 0000:3b:00.0`);
        args.push('-a', d);
      }
    } else if (!opts.pci) {
      args.push('--no-pci');
    }
    args.push(...extra);
    return args;
  }

  /**
   * Use, from a worker thread, the pools and ports that the thread which
   * called {@link init} created and described with {@link attachHandle}.
   * EAL is not initialised again: the worker loads the same shim (`dlopen`
   * returns the copy already loaded in this process), maps each pool with a
   * view of its own and opens queues by port and queue id. Also works in the
   * main thread (a second, independent view and stash).
   * @throws Error when the handle comes from another process or the shim cannot load
   */
  static attach(handle: DpdkAttachHandle, opts: DpdkAttachOptions = {}): DpdkAttached {
    if (handle.pid !== process.pid) throw new Error(`tzstack: an attach handle works only in the process that made it (${handle.pid}, this is ${process.pid})`);
    return new DpdkAttached(loadShim(), handle, opts.registerThread ?? true);
  }

  /** Whether DPDK can be used here, and if not why (for skipping tests). */
  static availability(): { ok: true } | { ok: false; reason: string } { return dpdkAvailability(); }

  /**
   * Initialise EAL once for this process and check the rte_mbuf layout;
   * later calls return the same instance (their options are ignored).
   * @throws Error when the shim is not built, DPDK is missing, EAL fails, or
   *   the mbuf layout differs from src/mbuf/layout.ts
   */
  static init(opts: DpdkInitOptions = {}): Dpdk {
    if (Dpdk.instance) return Dpdk.instance;
    if (Dpdk.closedOnce) throw new Error('tzstack: DPDK was closed in this process and EAL cannot be initialised again');
    const shim = loadShim();
    // Refuse to touch any packet if our layout constants are wrong for this DPDK.
    checkLayout(Dpdk.reportedLayout());
    const args = Dpdk.ealArgs(opts);
    const prefix = args[args.indexOf('--file-prefix') + 1];
    if (opts.hugepages) checkHugepages(args.includes('--in-memory'));
    sweepRuntimeDirs();
    const r = shim.tz_eal_init(args.length, args);
    if (r < 0) throw shimError(shim, `EAL init (${args.slice(1).join(' ')})`, r);
    const d = new Dpdk(shim, args, prefix);
    Dpdk.instance = d;
    process.once('exit', () => {
      // The kernel releases everything else; EAL's runtime files would stay.
      rmSync(`${RUNTIME_DIR}/${prefix}`, { recursive: true, force: true });
    });
    return d;
  }

  /** Create a pktmbuf pool. */
  createPool(opts: DpdkMempoolOptions): DpdkMempool {
    this.checkOpen();
    const p = DpdkMempool.create(this.shim, opts);
    this.pools.add(p);
    return p;
  }

  /**
   * Probe a device from its devargs (e.g. `net_ring0`,
   * `net_af_packet0,iface=veth0`, `net_tap0,iface=tap0`,
   * `net_memif0,role=server,socket=/tmp/x.sock`), configure it with the
   * requested queues and offloads, and start it.
   */
  openPort(devargs: string, opts: DpdkPortOptions): DpdkPort {
    this.checkOpen();
    const shim = this.shim;
    const name = devargs.split(',')[0];
    if ((opts.checksumUnneeded ?? false) && !/^net_(ring|memif)/.test(name)) {
      throw new Error(`tzstack: checksumUnneeded is only allowed on net_ring and net_memif ports, not ${name}`);
    }
    // The shim hands back an existing device of the same name (one given to
    // EAL with --vdev); one we opened ourselves may have other devargs.
    for (const p of this.ports) {
      if (p.name === name) throw new Error(`tzstack: ${name} is already open (${p.devargs}); close it or use another index, e.g. ${name.replace(/\d+$/, '')}${Number(/\d+$/.exec(name)?.[0] ?? 0) + 1}`);
    }
    devargs = withAfPacketRing(devargs, opts.mtu);
    const port = shim.tz_port_probe(devargs);
    if (port < 0) throw shimError(shim, `probing ${devargs}`, port);
    return this.configure(port, devargs, opts);
  }

  /**
   * Two ports joined back to back inside this process: what one transmits
   * the other receives, as mbuf pointers through two `rte_ring`s (DPDK's
   * `rte_eth_from_rings`, crossed). For two stacks in one process over the
   * same bursts a NIC would use, with zero copies. The rings (and any frames
   * still in them) are freed when both ports are closed.
   */
  openRingPair(opts: DpdkRingPairOptions): [DpdkPort, DpdkPort] {
    this.checkOpen();
    const shim = this.shim;
    const name = opts.name ?? `tzr${process.pid}x${ringPairSeq++}`;
    if (!/^[\w-]{1,23}$/.test(name)) throw new Error(`tzstack: ring pair name '${name}' must be 1-23 word characters`);
    let size = 1;
    while (size < (opts.ringSize ?? 4096)) size *= 2;
    const ids = new Uint16Array(2);
    const r = shim.tz_ring_pair(name, size, ids);
    if (r !== 0) throw shimError(shim, `creating the ring pair ${name}`, r);
    const portOpts: DpdkPortOptions = { pool: opts.pool, checksumUnneeded: opts.checksumUnneeded ?? true };
    let a: DpdkPort | undefined;
    try {
      a = this.configure(ids[0], `net_ring_${name}a`, portOpts);
    } catch (e) {
      // configure closed port a; close b too, which frees the rings.
      shim.tz_port_close(ids[1]);
      throw e;
    }
    try {
      return [a, this.configure(ids[1], `net_ring_${name}b`, portOpts)];
    } catch (e) {
      a.close();
      throw e;
    }
  }

  /** Configure and start a probed device; closes it on failure. */
  private configure(port: number, devargs: string, opts: DpdkPortOptions): DpdkPort {
    const shim = this.shim;
    const name = devargs.split(',')[0];
    const rxq = opts.rxQueues ?? 1;
    const txq = opts.txQueues ?? 1;
    const infoBuf = new BigUint64Array(INFO_COUNT);
    try {
      const before = readInfo(shim, port, devargs, infoBuf);
      if (rxq > before.maxRxQueues || txq > before.maxTxQueues) {
        throw new Error(`tzstack: ${name} supports ${before.maxRxQueues} rx / ${before.maxTxQueues} tx queues, asked ${rxq} / ${txq}`);
      }
      const want = opts.wantOffloads ?? {};
      const csumTx = TX_OFFLOAD_IPV4_CKSUM | TX_OFFLOAD_TCP_CKSUM | OFFLOAD_UDP_CKSUM;
      const csumRx = RX_OFFLOAD_IPV4_CKSUM | RX_OFFLOAD_TCP_CKSUM | OFFLOAD_UDP_CKSUM;
      let tx = TX_OFFLOAD_MULTI_SEGS;
      if (want.txChecksum ?? true) tx |= csumTx;
      // TSO makes the device fill the checksums of every segment.
      if ((want.tso ?? true) && (before.txOffloadCapa & TX_OFFLOAD_TCP_TSO)) tx |= TX_OFFLOAD_TCP_TSO | csumTx;
      tx &= before.txOffloadCapa;
      let rx = 0;
      if (want.rxChecksum ?? true) rx |= csumRx;
      rx &= before.rxOffloadCapa;
      // RSS: the caller's key must match the device's key size; the default
      // symmetric key is made at that size.
      const rssOpt = opts.rss === false ? null : (opts.rss ?? {});
      const keySize = before.hashKeySize || 40;
      let key: Uint8Array | null = null;
      let hf = 0n;
      if (rssOpt && rxq > 1) {
        hf = rssHfMask(rssOpt.hashFunctions ?? DEFAULT_RSS_HASH_FUNCTIONS);
        key = rssOpt.key ?? symmetricRssKey(keySize);
        if (key.length !== keySize) {
          throw new Error(`tzstack: ${name} takes a ${keySize}-byte RSS key, not ${key.length} bytes`);
        }
      }
      const r = shim.tz_port_setup_rss(port, opts.pool.poolId, rxq, txq, opts.ringSize ?? 1024,
        BigInt(rx >>> 0), BigInt(tx >>> 0), opts.mtu ?? 0, key, key?.length ?? 0, hf);
      if (r !== 0) throw shimError(shim, `configuring ${devargs}`, r);
      const s = shim.tz_port_start(port);
      if (s !== 0) throw shimError(shim, `starting ${devargs}`, s);
      const info = readInfo(shim, port, devargs, infoBuf);
      const rss = key ? rssConfig(shim, port, devargs, rxq, key) : null;
      // net_ring and friends report 00:00:00:00:00:00, which no stack can use as
      // its address; they do not filter by MAC, so give them a locally administered one.
      const mac = info.mac.some((b) => b !== 0) ? info.mac : Uint8Array.of(0x02, 0x74, 0x7a, (process.pid >> 8) & 0xff, process.pid & 0xff, port & 0xff);
      const caps: PortCaps = {
        mac,
        mtu: info.mtu || 1500,
        txOffloads: tx,
        rxOffloads: rx,
        checksumUnneeded: opts.checksumUnneeded ?? false,
        maxTsoSize: tx & TX_OFFLOAD_TCP_TSO ? MAX_TSO_PAYLOAD : 0,
      };
      const p = new DpdkPort(shim, port, devargs, opts.pool, caps, info, rxq, txq, rss, (x) => this.ports.delete(x));
      this.ports.add(p);
      return p;
    } catch (e) {
      shim.tz_port_close(port);
      throw e;
    }
  }

  /**
   * A description of pools and started ports (default: all of them) for
   * {@link Dpdk.attach} in a worker thread. Keep them open until every
   * worker has closed its {@link DpdkAttached}.
   */
  attachHandle(what: { pools?: DpdkMempool[]; ports?: DpdkPort[] } = {}): DpdkAttachHandle {
    this.checkOpen();
    const ports = what.ports ?? [...this.ports];
    const pools = new Set(what.pools ?? [...this.pools]);
    for (const p of ports) pools.add(p.pool);
    return {
      pid: process.pid,
      filePrefix: this.filePrefix,
      pools: [...pools].map((p) => p.handle()),
      ports: ports.map((p) => ({
        portId: p.portId, name: p.name, devargs: p.devargs, poolId: p.pool.poolId, caps: p.caps,
        rxQueues: p.rxQueues, txQueues: p.txQueues, rss: p.rss,
      })),
    };
  }

  /** Ports opened and not closed yet. */
  openPorts(): DpdkPort[] { return [...this.ports]; }

  /**
   * Close every port, free every pool and release EAL. EAL cannot be
   * initialised again in this process afterwards, so tests sharing one
   * process should close their ports and pools, not this.
   */
  close(): void {
    if (this.closed) return;
    for (const p of [...this.ports]) p.close();
    for (const p of this.pools) p.destroy();
    this.pools.clear();
    this.closed = true;
    Dpdk.instance = undefined;
    Dpdk.closedOnce = true;
    this.shim.tz_eal_cleanup();
    rmSync(`${RUNTIME_DIR}/${this.filePrefix}`, { recursive: true, force: true });
  }

  /** Give a pool back to DPDK (all its mbufs freed, no port using it). */
  destroyPool(p: DpdkMempool): void {
    if (this.pools.delete(p)) p.destroy();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('tzstack: DPDK is closed');
  }
}
