/**
 * Loading of native/pmd-shim/libtzshim.so through koffi, and its function
 * signatures. Only the `src/pmd/dpdk*.ts` modules use this module (bench/
 * and workers go through `Dpdk.attach`).
 *
 * Every argument that carries many values is a typed array passed by pointer
 * (koffi hands C the array's own memory, no copy, no per-element object).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

/** Slots of the BigUint64Array `tz_pool_create` fills (tzshim.h). */
export const POOL_BASE = 0, POOL_SPAN = 1, POOL_SIZE = 2, POOL_BUF_LEN = 3, POOL_PRIV_SIZE = 4,
  POOL_ELT_SIZE = 5, POOL_CHUNKS = 6, POOL_INFO_COUNT = 7;
/** Slots of the BigUint64Array `tz_port_info` fills (tzshim.h). */
export const INFO_RX_CAPA = 0, INFO_TX_CAPA = 1, INFO_MAX_RXQ = 2, INFO_MAX_TXQ = 3, INFO_MIN_MTU = 4,
  INFO_MAX_MTU = 5, INFO_MTU = 6, INFO_MAC = 7, INFO_LINK_UP = 8, INFO_LINK_SPEED = 9,
  INFO_RX_DESC_MAX = 10, INFO_TX_DESC_MAX = 11, INFO_TX_SEG_MAX = 12, INFO_MAX_RX_PKTLEN = 13, INFO_COUNT = 14;
/** Slots of the BigUint64Array `tz_port_rss_info` fills (tzshim.h). */
export const RSS_HF = 0, RSS_OFFLOADS = 1, RSS_RETA_SIZE = 2, RSS_KEY_SIZE = 3, RSS_RETA_SET = 4, RSS_RX_QUEUES = 5,
  RSS_KEY_READ = 6, RSS_INFO_COUNT = 7;
/** `rte_lcore_id()` of a thread that is not an EAL lcore (LCORE_ID_ANY). */
export const LCORE_ID_ANY = 0xffffffff;
/** Slots of the BigUint64Array `tz_port_stats` fills (tzshim.h). */
export const STAT_IPACKETS = 0, STAT_OPACKETS = 1, STAT_IBYTES = 2, STAT_OBYTES = 3, STAT_IMISSED = 4,
  STAT_IERRORS = 5, STAT_OERRORS = 6, STAT_RX_NOMBUF = 7, STAT_TX_BAD_OFFSET = 8, STAT_Q_ERRORS = 9, STAT_QUEUES = 16,
  STAT_COUNT = 25;

/** The shim's functions (see native/pmd-shim/tzshim.h). Negative returns are -errno. */
export interface Shim {
  tz_eal_init(argc: number, argv: string[]): number;
  tz_eal_cleanup(): number;
  tz_strerror(err: number): string;
  tz_layout(out: Uint32Array, n: number): number;
  tz_pool_create(name: string, n: number, cache: number, dataRoom: number, info: BigUint64Array): number;
  tz_pool_alloc_bulk(pool: number, out: Uint32Array, n: number): number;
  tz_pool_free_bulk(pool: number, pkts: Uint32Array, n: number): void;
  tz_pool_avail(pool: number): number;
  tz_pool_free_bulk_avail(pool: number, pkts: Uint32Array, n: number): number;
  tz_pool_destroy(pool: number): void;
  tz_port_probe(devargs: string): number;
  tz_port_info(port: number, info: BigUint64Array): number;
  tz_port_setup_rss(port: number, pool: number, nrxq: number, ntxq: number, ring: number,
    rxOffloads: bigint, txOffloads: bigint, mtu: number, key: Uint8Array | null, keyLen: number, rssHf: bigint): number;
  tz_port_rss_info(port: number, out: BigUint64Array, key: Uint8Array, keyCap: number): number;
  tz_port_reta(port: number, out: Uint16Array, n: number): number;
  tz_softrss(tuple: Uint32Array, n: number, key: Uint8Array): number;
  tz_ring_pair(name: string, ringSize: number, ports: Uint16Array): number;
  tz_thread_register(): number;
  tz_thread_unregister(): void;
  tz_lcore_id(): number;
  tz_port_start(port: number): number;
  tz_port_stats(port: number, out: BigUint64Array): number;
  tz_afpacket_stats(port: number, iface: string, out: BigUint64Array): number;
  tz_port_close(port: number): number;
  tz_rx_burst(port: number, queue: number, out: Uint32Array, n: number): number;
  tz_rx_clock(out: BigUint64Array): number;
  tz_clock_ms(): number;
  tz_tx_burst(port: number, queue: number, pkts: Uint32Array, n: number): number;
  tz_tx_burst_keep(port: number, queue: number, pkts: Uint32Array, n: number): number;
  tz_queue_stats(port: number, queue: number, out: BigUint64Array): number;
}

const SIGNATURES = [
  'int tz_eal_init(int argc, const char **argv)',
  'int tz_eal_cleanup(void)',
  'const char *tz_strerror(int err)',
  'int tz_layout(uint32_t *out, int n)',
  'int tz_pool_create(const char *name, uint32_t n, uint32_t cache, uint32_t data_room, uint64_t *info)',
  'int tz_pool_alloc_bulk(int pool, uint32_t *out, uint32_t n)',
  'void tz_pool_free_bulk(int pool, const uint32_t *in, uint32_t n)',
  'uint32_t tz_pool_avail(int pool)',
  'uint32_t tz_pool_free_bulk_avail(int pool, const uint32_t *in, uint32_t n)',
  'void tz_pool_destroy(int pool)',
  'int tz_port_probe(const char *devargs)',
  'int tz_port_info(uint16_t port, uint64_t *info)',
  'int tz_port_setup_rss(uint16_t port, int pool, uint16_t nrxq, uint16_t ntxq, uint16_t ring, uint64_t rx_offloads, uint64_t tx_offloads, uint32_t mtu, const uint8_t *key, uint32_t key_len, uint64_t rss_hf)',
  'int tz_port_rss_info(uint16_t port, uint64_t *out, uint8_t *key_out, uint32_t key_cap)',
  'int tz_port_reta(uint16_t port, uint16_t *out, uint32_t n)',
  'uint32_t tz_softrss(const uint32_t *tuple, uint32_t n, const uint8_t *key)',
  'int tz_ring_pair(const char *name, uint32_t ring_size, uint16_t *ports)',
  'int tz_thread_register(void)',
  'void tz_thread_unregister(void)',
  'uint32_t tz_lcore_id(void)',
  'int tz_port_start(uint16_t port)',
  'int tz_port_stats(uint16_t port, uint64_t *out)',
  'int tz_afpacket_stats(uint16_t port, const char *iface, uint64_t *out)',
  'int tz_port_close(uint16_t port)',
  'uint16_t tz_rx_burst(uint16_t port, uint16_t queue, uint32_t *out, uint16_t n)',
  'int tz_rx_clock(uint64_t *out)',
  'double tz_clock_ms(void)',
  'uint16_t tz_tx_burst(uint16_t port, uint16_t queue, const uint32_t *in, uint16_t n)',
  'uint16_t tz_tx_burst_keep(uint16_t port, uint16_t queue, const uint32_t *in, uint16_t n)',
  'int tz_queue_stats(uint16_t port, uint16_t queue, uint64_t *out)',
];

/** The directory holding tzstack's package.json, found by walking up from this file. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`tzstack: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Where the built shim lives. */
export function shimPath(): string {
  return join(packageRoot(), 'native', 'pmd-shim', 'libtzshim.so');
}

const SETUP_HINT = 'run `npm run setup` (or `bash scripts/setup.sh` as root)';

let loaded: Shim | undefined;
let loadError: Error | undefined;

/**
 * The shim, loaded on first use.
 * @throws Error saying what is missing (the .so not built, or DPDK's
 *   libraries not installed) and how to fix it
 */
export function loadShim(): Shim {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  const path = shimPath();
  if (!existsSync(path)) {
    loadError = new Error(`tzstack: the DPDK shim is not built (${path} is missing): ${SETUP_HINT}`);
    throw loadError;
  }
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(path);
  } catch (e) {
    const why = (e as Error).message;
    const hint = /librte_/.test(why) ? 'DPDK is not installed (librte_* not found)' : 'the shim could not be loaded';
    loadError = new Error(`tzstack: ${hint}: ${why}; ${SETUP_HINT}`);
    throw loadError;
  }
  const fns: Record<string, unknown> = {};
  for (const sig of SIGNATURES) {
    const name = /\b(tz_\w+)\(/.exec(sig)![1];
    fns[name] = lib.func(sig);
  }
  if (process.env.TZSTACK_COUNT_CALLS) countCalls(fns);
  // An object given ~30 properties by computed name is a dictionary in V8,
  // and every load from it (shim.tz_rx_burst, once a burst) went through the
  // generic LoadIC, ~160 instructions; a spread copy has a map of its own,
  // whose loads optimised code inlines.
  loaded = { ...fns } as unknown as Shim;
  return loaded;
}

/**
 * koffi calls made so far, by function (only with TZSTACK_COUNT_CALLS set
 * before the shim loads: each call then goes through a counting wrapper,
 * which the benchmark's per-segment figures use; never on by default).
 */
export const shimCalls: Record<string, number> = {};

function countCalls(fns: Record<string, unknown>): void {
  for (const [name, f] of Object.entries(fns)) {
    const fn = f as (...a: unknown[]) => unknown;
    shimCalls[name] = 0;
    fns[name] = (...a: unknown[]) => { shimCalls[name]++; return fn(...a); };
  }
}

/**
 * Whether DPDK can be used in this process, without throwing: for tests and
 * tools that skip DPDK work with a reason.
 */
export function dpdkAvailability(): { ok: true } | { ok: false; reason: string } {
  try {
    loadShim();
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: 'tzstack: DPDK needs root here (EAL memory, packet sockets, tap devices)' };
  }
  return { ok: true };
}

/** A message for a negative errno return from the shim. */
export function shimError(shim: Shim, what: string, ret: number): Error {
  let text: string;
  try { text = shim.tz_strerror(ret); } catch { text = 'unknown error'; }
  return new Error(`tzstack: ${what} failed: ${text} (${ret})`);
}
