/*
 * tzshim: the few DPDK entry points tzstack calls through koffi.
 *
 * DPDK's fast-path functions (rx/tx bursts, mbuf alloc/free) are static
 * inline, so a foreign-function interface cannot reach them; this library
 * wraps them, and nothing else. It holds no protocol code.
 *
 * Mbufs cross the boundary as uint32 byte offsets into the pool's memory
 * span (see tz_pool_create), never as pointers, so TypeScript reads them out
 * of a Uint32Array and indexes one ArrayBuffer view with them directly.
 *
 * Errors are returned as negative errno values. Ports take at most 64 queues
 * each way (per-queue counters live in the shim).
 */
#ifndef TZSHIM_H
#define TZSHIM_H

#include <stdint.h>

/* Number of values tz_layout() writes (must match LAYOUT_FIELDS in src/mbuf/layout.ts). */
#define TZ_LAYOUT_COUNT 19

/* Slots of the uint64 array tz_pool_create() fills. */
enum {
	TZ_POOL_BASE = 0,      /* virtual address of the span's first byte */
	TZ_POOL_SPAN,          /* bytes covering every memory chunk of the pool */
	TZ_POOL_SIZE,          /* number of mbufs */
	TZ_POOL_BUF_LEN,       /* buf_len of a direct mbuf (headroom + data room) */
	TZ_POOL_PRIV_SIZE,     /* private area per mbuf */
	TZ_POOL_ELT_SIZE,      /* bytes per object (header + priv + buffer) */
	TZ_POOL_CHUNKS,        /* memory chunks the span covers */
	TZ_POOL_INFO_COUNT
};

/* Slots of the uint64 array tz_port_info() fills. */
enum {
	TZ_INFO_RX_CAPA = 0,
	TZ_INFO_TX_CAPA,
	TZ_INFO_MAX_RXQ,
	TZ_INFO_MAX_TXQ,
	TZ_INFO_MIN_MTU,
	TZ_INFO_MAX_MTU,
	TZ_INFO_MTU,
	TZ_INFO_MAC,           /* 6 bytes, first byte of the address in bits 0-7 */
	TZ_INFO_LINK_UP,
	TZ_INFO_LINK_SPEED,    /* Mb/s */
	TZ_INFO_RX_DESC_MAX,
	TZ_INFO_TX_DESC_MAX,
	TZ_INFO_TX_SEG_MAX,    /* tx_desc_lim.nb_seg_max (0 = no limit given) */
	TZ_INFO_MAX_RX_PKTLEN,
	TZ_INFO_COUNT
};

/* Slots of the uint64 array tz_port_rss_info() fills. */
enum {
	TZ_RSS_HF = 0,         /* hash functions in use (rss_hf); 0 = RSS off */
	TZ_RSS_OFFLOADS,       /* dev_info.flow_type_rss_offloads */
	TZ_RSS_RETA_SIZE,      /* dev_info.reta_size (0 = no table) */
	TZ_RSS_KEY_SIZE,       /* dev_info.hash_key_size (0 = not reported) */
	TZ_RSS_RETA_SET,       /* 1 when tz_port_setup_rss programmed entry i -> queue i % nrxq */
	TZ_RSS_RX_QUEUES,      /* rx queues configured */
	TZ_RSS_KEY_READ,       /* bytes of key read back from the device into key_out (0 = not supported) */
	TZ_RSS_INFO_COUNT
};

/* Slots of the uint64 array tz_port_stats() fills. */
enum {
	TZ_STAT_IPACKETS = 0,
	TZ_STAT_OPACKETS,
	TZ_STAT_IBYTES,
	TZ_STAT_OBYTES,
	TZ_STAT_IMISSED,
	TZ_STAT_IERRORS,
	TZ_STAT_OERRORS,
	TZ_STAT_RX_NOMBUF,
	TZ_STAT_TX_BAD_OFFSET, /* tx offsets outside the pool span, refused by the shim */
	TZ_STAT_Q_ERRORS,      /* rte_eth_stats.q_errors[0..TZ_STAT_QUEUES) (per-queue drops/errors) */
	TZ_STAT_COUNT = TZ_STAT_Q_ERRORS + 16
};
#define TZ_STAT_QUEUES 16

int tz_eal_init(int argc, char **argv);
int tz_eal_cleanup(void);
int tz_errno(void);
const char *tz_strerror(int err);
int tz_layout(uint32_t *out, int n);

int tz_pool_create(const char *name, uint32_t n, uint32_t cache, uint32_t data_room, uint64_t *info);
int tz_pool_alloc_bulk(int pool, uint32_t *out, uint32_t n);
void tz_pool_free_bulk(int pool, const uint32_t *in, uint32_t n);
uint32_t tz_pool_avail(int pool);
/* tz_pool_free_bulk then tz_pool_avail, in one call (a count that first returns what is pending). */
uint32_t tz_pool_free_bulk_avail(int pool, const uint32_t *in, uint32_t n);
void tz_pool_destroy(int pool);

int tz_port_probe(const char *devargs);
int tz_port_info(uint16_t port, uint64_t *info);
/*
 * Configure a port (queues, offloads, MTU) with receive-side scaling: with nrxq > 1 and rss_hf & the
 * device's flow_type_rss_offloads != 0, mq_mode = RSS, rss_hf masked by
 * what the device offers, the given key (key_len must equal the device's
 * hash_key_size when it reports one; NULL = the symmetric 0x6d5a key of that
 * size), RX_OFFLOAD_RSS_HASH when offered, and the redirection table
 * programmed as entry i -> queue i % nrxq when the device has one.
 */
int tz_port_setup_rss(uint16_t port, int pool, uint16_t nrxq, uint16_t ntxq, uint16_t ring,
		      uint64_t rx_offloads, uint64_t tx_offloads, uint32_t mtu,
		      const uint8_t *key, uint32_t key_len, uint64_t rss_hf);
/* RSS state of a configured port (TZ_RSS_INFO_COUNT values); the key as the device reports it into key_out. */
int tz_port_rss_info(uint16_t port, uint64_t *out, uint8_t *key_out, uint32_t key_cap);
/* The redirection table (reta_size entries, queue numbers); returns entries read or -errno. */
int tz_port_reta(uint16_t port, uint16_t *out, uint32_t n);
/* DPDK's software Toeplitz (rte_softrss) over n 32-bit host-order words. */
uint32_t tz_softrss(const uint32_t *tuple, uint32_t n, const uint8_t *key);

/*
 * Two net_ring ports crossed over two new rte_rings (what one sends the
 * other receives), named net_ring_<name>a and net_ring_<name>b; their ids go
 * to ports[0..1]. The rings are freed, and any mbufs left in them, when both
 * ports are closed with tz_port_close.
 */
int tz_ring_pair(const char *name, uint32_t ring_size, uint16_t *ports);

/*
 * Make the calling thread (a Node worker) an EAL non-EAL lcore, so mempools
 * give it a per-lcore cache; returns its lcore id or -errno.
 */
int tz_thread_register(void);
void tz_thread_unregister(void);
/* rte_lcore_id() of the calling thread (UINT32_MAX when it is not an lcore). */
uint32_t tz_lcore_id(void);

int tz_port_start(uint16_t port);
int tz_port_stats(uint16_t port, uint64_t *out);
/*
 * net_af_packet's kernel ring counters for `port` on interface `iface`:
 * out[0] packets, out[1] drops (the kernel ring was full), summed over the
 * process's AF_PACKET sockets bound to that interface since the port opened,
 * out[2] how many such sockets were found (0: none, counters unchanged).
 * The kernel resets its counters on each read, so the shim keeps the sums.
 */
int tz_afpacket_stats(uint16_t port, const char *iface, uint64_t *out);
int tz_port_close(uint16_t port);

/*
 * Receive; also records when the burst began (CLOCK_MONOTONIC, ms) in a
 * per-thread double whose address tz_rx_clock gives: a poll's clock reading
 * without a call of its own (a JavaScript performance.now() cost ~400
 * instructions). tz_clock_ms reads the same clock, to relate the two.
 */
uint16_t tz_rx_burst(uint16_t port, uint16_t queue, uint32_t *out, uint16_t n);
int tz_rx_clock(uint64_t *out);
double tz_clock_ms(void);
/* Transmit; frees (and counts in tx dropped) whatever the device does not take. */
uint16_t tz_tx_burst(uint16_t port, uint16_t queue, const uint32_t *in, uint16_t n);
/*
 * Transmit what the device takes; returns k: in[0..k) consumed (sent, or
 * offsets outside the pool, counted and skipped), in[k..n) left with the
 * caller untouched (counted in tx refused).
 */
uint16_t tz_tx_burst_keep(uint16_t port, uint16_t queue, const uint32_t *in, uint16_t n);
int tz_rx_array(uint16_t port, uint16_t queue, uint32_t *a, uint32_t cap);
int tz_tx_array(uint16_t port, uint16_t queue, const uint32_t *a, uint32_t cap);
uint16_t tz_rx_burst_reg(uint32_t arg);
uint16_t tz_tx_burst_keep_reg(uint32_t arg);
/*
 * Software counters of one queue: rx packets, rx bytes, tx packets, tx bytes,
 * tx dropped, tx refused (6 values).
 */
int tz_queue_stats(uint16_t port, uint16_t queue, uint64_t *out);

#endif
