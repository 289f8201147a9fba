/*
 * tzshim: DPDK's static-inline fast path made callable from koffi.
 * See tzshim.h for the contract. No protocol code lives here.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_thash.h>

#include "tzshim.h"

#define TZ_MAX_POOLS 64
/* Mbuf pointers converted per step; bounds the on-stack arrays. */
#define TZ_CHUNK 512
/*
 * tz_tx_burst_keep's step: smaller, because a device that refuses part of a
 * step has had the whole step converted (and each refused mbuf's pkt_len
 * read, a cache miss when thousands of connections keep the pool cold) for
 * nothing, and a caller under backpressure offers its whole backlog on every
 * flush. At 4,096 connections over a full ring, 512-mbuf steps cost ~500
 * instructions per frame sent; 64 bounds the waste to one step per call.
 */
#define TZ_KEEP_CHUNK 64
/* Queues per port tzstack configures at most. */
#define TZ_MAX_QUEUES 64

struct tz_pool {
	struct rte_mempool *mp;
	uintptr_t base;
	uint64_t span;
};

/* Software counters per queue, kept here so the fast path in JS has no per-packet loop. */
struct tz_qstats {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes, tx_dropped;
	/* Offers tz_tx_burst_keep handed back because the device queue was full. */
	uint64_t tx_refused;
};

struct tz_port {
	struct tz_qstats q[TZ_MAX_QUEUES];
	int pool;          /* index in pools[] of the rx pool; tx offsets are relative to it too */
	uintptr_t base;
	uint64_t span;
	uint64_t tx_bad_offset;
	/* net_af_packet: the kernel ring's counters, summed (reading them resets the kernel's). */
	uint64_t afp_packets, afp_drops;
	uint64_t rss_hf;   /* hash functions enabled at setup (0 = RSS off) */
	uint16_t nrxq;
	uint8_t reta_want; /* RSS on and the device has a table: entry i -> queue i % nrxq */
	uint8_t reta_set;  /* ... and the device took it */
};

/* Two rings crossing two net_ring ports (tz_ring_pair); freed when both ports are closed. */
#define TZ_MAX_RING_PAIRS 32
struct tz_ring_pair {
	struct rte_ring *r[2];
	uint16_t port[2];
	uint8_t open[2];
	uint8_t used;
};
static struct tz_ring_pair ring_pairs[TZ_MAX_RING_PAIRS];

static struct tz_pool pools[TZ_MAX_POOLS];
static struct tz_port ports[RTE_MAX_ETHPORTS];

static int neg_rte_errno(int fallback)
{
	return -(rte_errno ? rte_errno : fallback);
}

int tz_eal_init(int argc, char **argv)
{
	/*
	 * rte_eal_init pins the calling thread to the main lcore's CPU. The
	 * caller is Node's main thread, which must keep the affinity it had (the
	 * machine's cores are shared), so put it back afterwards.
	 */
	cpu_set_t saved;
	int have = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	/*
	 * EAL may keep pointers into argv; the caller's strings only live for the
	 * duration of this call, so hand EAL copies that live as long as the process.
	 */
	char **args = calloc((size_t)argc + 1, sizeof(char *));
	if (!args)
		return -ENOMEM;
	for (int i = 0; i < argc; i++)
		if (!(args[i] = strdup(argv[i])))
			return -ENOMEM;
	int ret = rte_eal_init(argc, args);
	if (have)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	return ret < 0 ? neg_rte_errno(EINVAL) : ret;
}

int tz_eal_cleanup(void)
{
	return rte_eal_cleanup();
}

int tz_errno(void)
{
	return rte_errno;
}

const char *tz_strerror(int err)
{
	return rte_strerror(err < 0 ? -err : err);
}

int tz_layout(uint32_t *out, int n)
{
	const uint32_t v[TZ_LAYOUT_COUNT] = {
		offsetof(struct rte_mbuf, buf_addr),
		offsetof(struct rte_mbuf, buf_iova),
		offsetof(struct rte_mbuf, data_off),
		offsetof(struct rte_mbuf, refcnt),
		offsetof(struct rte_mbuf, nb_segs),
		offsetof(struct rte_mbuf, port),
		offsetof(struct rte_mbuf, ol_flags),
		offsetof(struct rte_mbuf, packet_type),
		offsetof(struct rte_mbuf, pkt_len),
		offsetof(struct rte_mbuf, data_len),
		offsetof(struct rte_mbuf, vlan_tci),
		offsetof(struct rte_mbuf, hash),
		offsetof(struct rte_mbuf, buf_len),
		offsetof(struct rte_mbuf, pool),
		offsetof(struct rte_mbuf, next),
		offsetof(struct rte_mbuf, tx_offload),
		offsetof(struct rte_mbuf, shinfo),
		offsetof(struct rte_mbuf, priv_size),
		sizeof(struct rte_mbuf),
	};
	int k = n < TZ_LAYOUT_COUNT ? n : TZ_LAYOUT_COUNT;
	memcpy(out, v, (size_t)k * sizeof(uint32_t));
	return TZ_LAYOUT_COUNT;
}

/* ---- mempools ---- */

struct span_acc {
	uintptr_t lo, hi;
	unsigned chunks;
};

static void span_cb(struct rte_mempool *mp, void *opaque, struct rte_mempool_memhdr *memhdr, unsigned idx)
{
	struct span_acc *s = opaque;
	uintptr_t a = (uintptr_t)memhdr->addr;
	(void)mp;
	(void)idx;
	if (a < s->lo)
		s->lo = a;
	if (a + memhdr->len > s->hi)
		s->hi = a + memhdr->len;
	s->chunks++;
}

int tz_pool_create(const char *name, uint32_t n, uint32_t cache, uint32_t data_room, uint64_t *info)
{
	int id;
	for (id = 0; id < TZ_MAX_POOLS && pools[id].mp; id++)
		;
	if (id == TZ_MAX_POOLS)
		return -ENOSPC;
	if (data_room + RTE_PKTMBUF_HEADROOM > UINT16_MAX)
		return -EINVAL;
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0,
		(uint16_t)(data_room + RTE_PKTMBUF_HEADROOM), SOCKET_ID_ANY);
	if (!mp)
		return neg_rte_errno(ENOMEM);
	struct span_acc s = { UINTPTR_MAX, 0, 0 };
	rte_mempool_mem_iter(mp, span_cb, &s);
	/* Offsets travel as uint32: the span must fit. */
	if (s.chunks == 0 || s.hi - s.lo > UINT32_MAX) {
		rte_mempool_free(mp);
		return -E2BIG;
	}
	pools[id].mp = mp;
	pools[id].base = s.lo;
	pools[id].span = s.hi - s.lo;
	info[TZ_POOL_BASE] = s.lo;
	info[TZ_POOL_SPAN] = s.hi - s.lo;
	info[TZ_POOL_SIZE] = mp->size;
	info[TZ_POOL_BUF_LEN] = rte_pktmbuf_data_room_size(mp);
	info[TZ_POOL_PRIV_SIZE] = rte_pktmbuf_priv_size(mp);
	info[TZ_POOL_ELT_SIZE] = mp->header_size + mp->elt_size + mp->trailer_size;
	info[TZ_POOL_CHUNKS] = s.chunks;
	return id;
}

static struct tz_pool *pool_of(int id)
{
	return id >= 0 && id < TZ_MAX_POOLS && pools[id].mp ? &pools[id] : NULL;
}

int tz_pool_alloc_bulk(int id, uint32_t *out, uint32_t n)
{
	struct tz_pool *p = pool_of(id);
	struct rte_mbuf *m[TZ_CHUNK];
	uint32_t done = 0;
	if (!p)
		return -EINVAL;
	while (done < n) {
		uint32_t k = n - done < TZ_CHUNK ? n - done : TZ_CHUNK;
		if (rte_pktmbuf_alloc_bulk(p->mp, m, k) != 0) {
			/* All or nothing: give back what earlier steps took. */
			if (done)
				tz_pool_free_bulk(id, out, done);
			return -ENOBUFS;
		}
		for (uint32_t i = 0; i < k; i++)
			out[done + i] = (uint32_t)((uintptr_t)m[i] - p->base);
		done += k;
	}
	return 0;
}

void tz_pool_free_bulk(int id, const uint32_t *in, uint32_t n)
{
	struct tz_pool *p = pool_of(id);
	struct rte_mbuf *m[TZ_CHUNK];
	if (!p)
		return;
	while (n > 0) {
		uint32_t k = n < TZ_CHUNK ? n : TZ_CHUNK, j = 0;
		for (uint32_t i = 0; i < k; i++)
			if (in[i] < p->span)
				m[j++] = (struct rte_mbuf *)(p->base + in[i]);
		rte_pktmbuf_free_bulk(m, j);
		in += k;
		n -= k;
	}
}

uint32_t tz_pool_avail(int id)
{
	struct tz_pool *p = pool_of(id);
	return p ? rte_mempool_avail_count(p->mp) : 0;
}

uint32_t tz_pool_free_bulk_avail(int id, const uint32_t *in, uint32_t n)
{
	tz_pool_free_bulk(id, in, n);
	return tz_pool_avail(id);
}

void tz_pool_destroy(int id)
{
	struct tz_pool *p = pool_of(id);
	if (!p)
		return;
	rte_mempool_free(p->mp);
	memset(p, 0, sizeof(*p));
}

/* ---- ports ---- */

int tz_port_probe(const char *devargs)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	size_t len = strcspn(devargs, ",");
	uint16_t port;
	if (len == 0 || len >= sizeof(name))
		return -EINVAL;
	memcpy(name, devargs, len);
	name[len] = 0;
	/* Already there (given to EAL with --vdev or -a, or probed before). */
	if (rte_eth_dev_get_port_by_name(name, &port) == 0)
		return port;
	int ret = rte_dev_probe(devargs);
	if (ret < 0)
		return ret;
	if (rte_eth_dev_get_port_by_name(name, &port) != 0)
		return -ENODEV;
	return port;
}

int tz_port_info(uint16_t port, uint64_t *info)
{
	struct rte_eth_dev_info di;
	struct rte_ether_addr mac;
	struct rte_eth_link link;
	uint16_t mtu = 0;
	int ret = rte_eth_dev_info_get(port, &di);
	if (ret != 0)
		return ret;
	ret = rte_eth_macaddr_get(port, &mac);
	if (ret != 0)
		return ret;
	rte_eth_dev_get_mtu(port, &mtu);
	memset(&link, 0, sizeof(link));
	rte_eth_link_get_nowait(port, &link);
	uint64_t m = 0;
	for (int i = 5; i >= 0; i--)
		m = (m << 8) | mac.addr_bytes[i];
	info[TZ_INFO_RX_CAPA] = di.rx_offload_capa;
	info[TZ_INFO_TX_CAPA] = di.tx_offload_capa;
	info[TZ_INFO_MAX_RXQ] = di.max_rx_queues;
	info[TZ_INFO_MAX_TXQ] = di.max_tx_queues;
	info[TZ_INFO_MIN_MTU] = di.min_mtu;
	info[TZ_INFO_MAX_MTU] = di.max_mtu;
	info[TZ_INFO_MTU] = mtu;
	info[TZ_INFO_MAC] = m;
	info[TZ_INFO_LINK_UP] = link.link_status;
	info[TZ_INFO_LINK_SPEED] = link.link_speed;
	info[TZ_INFO_RX_DESC_MAX] = di.rx_desc_lim.nb_max;
	info[TZ_INFO_TX_DESC_MAX] = di.tx_desc_lim.nb_max;
	info[TZ_INFO_TX_SEG_MAX] = di.tx_desc_lim.nb_seg_max;
	info[TZ_INFO_MAX_RX_PKTLEN] = di.max_rx_pktlen;
	return 0;
}

/* Key bytes tzstack handles at most (devices use 40 or 52). */
#define TZ_RSS_KEY_MAX 255

/* Write the symmetric Toeplitz key (0x6d, 0x5a repeated): hash(a->b) == hash(b->a). */
static void symmetric_key(uint8_t *key, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		key[i] = (i & 1) ? 0x5a : 0x6d;
}

/* Entry i -> queue i % nrxq; the table size comes from the device. */
static int program_reta(uint16_t port, uint16_t reta_size, uint16_t nrxq)
{
	uint16_t groups = (reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
	struct rte_eth_rss_reta_entry64 *conf = calloc(groups, sizeof(*conf));
	if (!conf)
		return -ENOMEM;
	for (uint16_t i = 0; i < reta_size; i++) {
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
		conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = i % nrxq;
	}
	int ret = rte_eth_dev_rss_reta_update(port, conf, reta_size);
	free(conf);
	return ret;
}

int tz_port_setup_rss(uint16_t port, int pool, uint16_t nrxq, uint16_t ntxq, uint16_t ring,
		      uint64_t rx_offloads, uint64_t tx_offloads, uint32_t mtu,
		      const uint8_t *key, uint32_t key_len, uint64_t rss_hf)
{
	struct tz_pool *p = pool_of(pool);
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	uint8_t keybuf[TZ_RSS_KEY_MAX];
	uint16_t nrx = ring, ntx = ring;
	int ret;
	if (!p || port >= RTE_MAX_ETHPORTS || nrxq > TZ_MAX_QUEUES || ntxq > TZ_MAX_QUEUES)
		return -EINVAL;
	/* Zero copy frees mbufs with refcnt > 1 and indirect ones: never fast-free. */
	tx_offloads &= ~RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	ret = rte_eth_dev_info_get(port, &di);
	if (ret != 0)
		return ret;
	memset(&conf, 0, sizeof(conf));
	rss_hf &= di.flow_type_rss_offloads;
	if (nrxq > 1 && rss_hf != 0) {
		/* The device's key size, or the classic 40 bytes when it reports none. */
		uint32_t want = di.hash_key_size ? di.hash_key_size : 40;
		if (key) {
			if (key_len != want)
				return -EINVAL;
		} else {
			if (want > sizeof(keybuf))
				return -EINVAL;
			symmetric_key(keybuf, want);
			key = keybuf;
			key_len = want;
		}
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = (uint8_t *)key;
		conf.rx_adv_conf.rss_conf.rss_key_len = (uint8_t)key_len;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
		/* Deliver the hash in mbuf->hash.rss (RX_RSS_HASH) when the device can. */
		rx_offloads |= di.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH;
	} else {
		rss_hf = 0;
	}
	conf.rxmode.offloads = rx_offloads;
	conf.txmode.offloads = tx_offloads;
	if (mtu)
		conf.rxmode.mtu = mtu;
	ret = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (ret != 0)
		return ret;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if (ret != 0)
		return ret;
	struct rte_eth_rxconf rxc = di.default_rxconf;
	struct rte_eth_txconf txc = di.default_txconf;
	rxc.offloads = rx_offloads;
	txc.offloads = tx_offloads;
	int socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	for (uint16_t q = 0; q < nrxq; q++) {
		ret = rte_eth_rx_queue_setup(port, q, nrx, socket, &rxc, p->mp);
		if (ret != 0)
			return ret;
	}
	for (uint16_t q = 0; q < ntxq; q++) {
		ret = rte_eth_tx_queue_setup(port, q, ntx, socket, &txc);
		if (ret != 0)
			return ret;
	}
	struct tz_port *pt = &ports[port];
	pt->pool = pool;
	pt->base = p->base;
	pt->span = p->span;
	pt->tx_bad_offset = 0;
	memset(pt->q, 0, sizeof(pt->q));
	pt->rss_hf = rss_hf;
	pt->nrxq = nrxq;
	pt->reta_want = rss_hf != 0 && di.reta_size > 0;
	/* Some devices take the table only once started: tz_port_start tries again. */
	pt->reta_set = pt->reta_want && program_reta(port, di.reta_size, nrxq) == 0;
	return 0;
}

int tz_port_rss_info(uint16_t port, uint64_t *out, uint8_t *key_out, uint32_t key_cap)
{
	struct rte_eth_dev_info di;
	struct rte_eth_rss_conf rc;
	int ret = rte_eth_dev_info_get(port, &di);
	if (ret != 0)
		return ret;
	const struct tz_port *pt = &ports[port];
	out[TZ_RSS_HF] = pt->rss_hf;
	out[TZ_RSS_OFFLOADS] = di.flow_type_rss_offloads;
	out[TZ_RSS_RETA_SIZE] = di.reta_size;
	out[TZ_RSS_KEY_SIZE] = di.hash_key_size;
	out[TZ_RSS_RETA_SET] = pt->reta_set;
	out[TZ_RSS_RX_QUEUES] = pt->nrxq;
	out[TZ_RSS_KEY_READ] = 0;
	/* Ask the device what it really uses (not every PMD can say). */
	uint8_t key[TZ_RSS_KEY_MAX];
	memset(&rc, 0, sizeof(rc));
	rc.rss_key = key;
	rc.rss_key_len = di.hash_key_size ? di.hash_key_size : 40;
	if (pt->rss_hf && rte_eth_dev_rss_hash_conf_get(port, &rc) == 0) {
		out[TZ_RSS_HF] = rc.rss_hf;
		uint32_t k = rc.rss_key_len < key_cap ? rc.rss_key_len : key_cap;
		if (key_out && k) {
			memcpy(key_out, key, k);
			out[TZ_RSS_KEY_READ] = k;
		}
	}
	return 0;
}

int tz_port_reta(uint16_t port, uint16_t *out, uint32_t n)
{
	struct rte_eth_dev_info di;
	int ret = rte_eth_dev_info_get(port, &di);
	if (ret != 0)
		return ret;
	uint16_t size = di.reta_size;
	if (size == 0)
		return -ENOTSUP;
	if (n < size)
		return -ENOSPC;
	uint16_t groups = (size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
	struct rte_eth_rss_reta_entry64 *conf = calloc(groups, sizeof(*conf));
	if (!conf)
		return -ENOMEM;
	for (uint16_t g = 0; g < groups; g++)
		conf[g].mask = ~0ULL;
	ret = rte_eth_dev_rss_reta_query(port, conf, size);
	if (ret == 0)
		for (uint16_t i = 0; i < size; i++)
			out[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	free(conf);
	return ret == 0 ? size : ret;
}

uint32_t tz_softrss(const uint32_t *tuple, uint32_t n, const uint8_t *key)
{
	return rte_softrss((uint32_t *)tuple, n, key);
}

/* ---- in-process wires ---- */

int tz_ring_pair(const char *name, uint32_t ring_size, uint16_t *out)
{
	char rname[RTE_RING_NAMESIZE], pname[RTE_ETH_NAME_MAX_LEN];
	struct tz_ring_pair *rp = NULL;
	int id[2] = { -1, -1 };
	/* "<name>ab" must fit a ring name (rte_ring prefixes its memzone with "RG_"). */
	if (!name || strlen(name) + 3 > RTE_RING_NAMESIZE - 3 || (ring_size & (ring_size - 1)) != 0)
		return -EINVAL;
	for (int i = 0; i < TZ_MAX_RING_PAIRS; i++)
		if (!ring_pairs[i].used) {
			rp = &ring_pairs[i];
			break;
		}
	if (!rp)
		return -ENOSPC;
	/* r[0] carries a -> b, r[1] b -> a; each end has one producer and one consumer thread. */
	for (int k = 0; k < 2; k++) {
		snprintf(rname, sizeof(rname), "%s%s", name, k ? "ba" : "ab");
		rp->r[k] = rte_ring_create(rname, ring_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!rp->r[k]) {
			int err = neg_rte_errno(ENOMEM);
			if (k)
				rte_ring_free(rp->r[0]);
			memset(rp, 0, sizeof(*rp));
			return err;
		}
	}
	for (int k = 0; k < 2; k++) {
		snprintf(pname, sizeof(pname), "%s%c", name, k ? 'b' : 'a');
		/* a receives what b sends (r[1]) and sends into r[0]; b the other way round. */
		id[k] = rte_eth_from_rings(pname, &rp->r[k ? 0 : 1], 1, &rp->r[k ? 1 : 0], 1, SOCKET_ID_ANY);
		if (id[k] < 0) {
			int err = neg_rte_errno(EINVAL);
			if (k)
				tz_port_close((uint16_t)id[0]);
			rte_ring_free(rp->r[0]);
			rte_ring_free(rp->r[1]);
			memset(rp, 0, sizeof(*rp));
			return err;
		}
		/* Mark it before the port can be closed, so tz_port_close finds the pair. */
		rp->port[k] = (uint16_t)id[k];
		rp->open[k] = 1;
		rp->used = 1;
		out[k] = (uint16_t)id[k];
	}
	return 0;
}

/* Called when `port` is closed: free its pair's rings once both ends are closed. */
static void ring_pair_port_closed(uint16_t port)
{
	for (int i = 0; i < TZ_MAX_RING_PAIRS; i++) {
		struct tz_ring_pair *rp = &ring_pairs[i];
		if (!rp->used)
			continue;
		for (int k = 0; k < 2; k++)
			if (rp->open[k] && rp->port[k] == port)
				rp->open[k] = 0;
		if (rp->open[0] || rp->open[1])
			continue;
		/* Frames sent after their receiver closed still hold mbufs: free them. */
		for (int k = 0; k < 2; k++) {
			void *objs[64];
			unsigned n;
			while ((n = rte_ring_dequeue_burst(rp->r[k], objs, 64, NULL)) > 0)
				for (unsigned j = 0; j < n; j++)
					rte_pktmbuf_free(objs[j]);
			rte_ring_free(rp->r[k]);
		}
		memset(rp, 0, sizeof(*rp));
	}
}

/* ---- worker threads ---- */

int tz_thread_register(void)
{
	if (rte_lcore_id() != LCORE_ID_ANY)
		return (int)rte_lcore_id();
	/* rte_thread_register records the thread's current CPU set; it does not pin. */
	if (rte_thread_register() != 0)
		return neg_rte_errno(ENOSPC);
	return (int)rte_lcore_id();
}

void tz_thread_unregister(void)
{
	rte_thread_unregister();
}

uint32_t tz_lcore_id(void)
{
	return rte_lcore_id();
}

int tz_port_start(uint16_t port)
{
	int ret = rte_eth_dev_start(port);
	if (ret == 0 && port < RTE_MAX_ETHPORTS && ports[port].reta_want && !ports[port].reta_set) {
		struct rte_eth_dev_info di;
		if (rte_eth_dev_info_get(port, &di) == 0 && di.reta_size > 0)
			ports[port].reta_set = program_reta(port, di.reta_size, ports[port].nrxq) == 0;
	}
	return ret;
}

int tz_port_stats(uint16_t port, uint64_t *out)
{
	struct rte_eth_stats st;
	int ret = rte_eth_stats_get(port, &st);
	if (ret != 0)
		return ret;
	out[TZ_STAT_IPACKETS] = st.ipackets;
	out[TZ_STAT_OPACKETS] = st.opackets;
	out[TZ_STAT_IBYTES] = st.ibytes;
	out[TZ_STAT_OBYTES] = st.obytes;
	out[TZ_STAT_IMISSED] = st.imissed;
	out[TZ_STAT_IERRORS] = st.ierrors;
	out[TZ_STAT_OERRORS] = st.oerrors;
	out[TZ_STAT_RX_NOMBUF] = st.rx_nombuf;
	out[TZ_STAT_TX_BAD_OFFSET] = port < RTE_MAX_ETHPORTS ? ports[port].tx_bad_offset : 0;
	for (int q = 0; q < TZ_STAT_QUEUES; q++)
		out[TZ_STAT_Q_ERRORS + q] = q < RTE_ETHDEV_QUEUE_STAT_CNTRS ? st.q_errors[q] : 0;
	return 0;
}

int tz_afpacket_stats(uint16_t port, const char *iface, uint64_t *out)
{
	if (port >= RTE_MAX_ETHPORTS)
		return -EINVAL;
	unsigned int idx = if_nametoindex(iface);
	if (idx == 0)
		return -errno;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -errno;
	struct tz_port *pt = &ports[port];
	uint64_t sockets = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		int fd = atoi(e->d_name);
		int dom = 0;
		socklen_t l = sizeof(dom);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) != 0 || dom != AF_PACKET)
			continue;
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		memset(&sll, 0, sizeof(sll));
		if (getsockname(fd, (struct sockaddr *)&sll, &sl) != 0 || sll.sll_ifindex != (int)idx)
			continue;
		/* TPACKET_V2 rings (what the PMD sets up): packets and drops since the last read. */
		struct tpacket_stats ts;
		socklen_t tl = sizeof(ts);
		if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &ts, &tl) != 0)
			continue;
		pt->afp_packets += ts.tp_packets;
		pt->afp_drops += ts.tp_drops;
		sockets++;
	}
	closedir(d);
	out[0] = pt->afp_packets;
	out[1] = pt->afp_drops;
	out[2] = sockets;
	return 0;
}

int tz_port_close(uint16_t port)
{
	struct rte_eth_dev_info di;
	struct rte_device *dev = NULL;
	if (rte_eth_dev_info_get(port, &di) == 0)
		dev = di.device;
	rte_eth_dev_stop(port);
	int ret = rte_eth_dev_close(port);
	/* Unplug the device too, so the same devargs can be probed again later. */
	if (dev)
		rte_dev_remove(dev);
	if (port < RTE_MAX_ETHPORTS)
		memset(&ports[port], 0, sizeof(ports[port]));
	ring_pair_port_closed(port);
	return ret;
}

/* ---- fast path ---- */

/* CLOCK_MONOTONIC in ms: the clock under Node's performance.now() (libuv's uv_hrtime). */
static inline double monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* When this thread's last tz_rx_burst began (monotonic_ms), for tz_rx_clock. */
static __thread double rx_clock_ms;

double tz_clock_ms(void)
{
	return monotonic_ms();
}

int tz_rx_clock(uint64_t *out)
{
	out[0] = (uint64_t)(uintptr_t)&rx_clock_ms;
	return 0;
}

uint16_t tz_rx_burst(uint16_t port, uint16_t queue, uint32_t *out, uint16_t n)
{
	struct rte_mbuf *m[TZ_CHUNK];
	uintptr_t base = ports[port].base;
	/* The poll that asks for this burst reads its time here (tz_rx_clock), not with a call of its own. */
	rx_clock_ms = monotonic_ms();
	if (n > TZ_CHUNK)
		n = TZ_CHUNK;
	uint16_t got = rte_eth_rx_burst(port, queue, m, n);
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < got; i++) {
		out[i] = (uint32_t)((uintptr_t)m[i] - base);
		bytes += m[i]->pkt_len;
	}
	struct tz_qstats *qs = &ports[port].q[queue & (TZ_MAX_QUEUES - 1)];
	qs->rx_pkts += got;
	qs->rx_bytes += bytes;
	return got;
}

uint16_t tz_tx_burst(uint16_t port, uint16_t queue, const uint32_t *in, uint16_t n)
{
	struct rte_mbuf *m[TZ_CHUNK];
	struct tz_port *pt = &ports[port];
	struct tz_qstats *qs = &pt->q[queue & (TZ_MAX_QUEUES - 1)];
	uint16_t total = 0;
	int full = 0;
	while (n > 0) {
		uint16_t k = n < TZ_CHUNK ? n : TZ_CHUNK, j = 0;
		uint64_t bytes = 0;
		for (uint16_t i = 0; i < k; i++) {
			/* An offset outside the span cannot be an mbuf of this pool: refuse it rather than crash. */
			if (in[i] < pt->span) {
				m[j] = (struct rte_mbuf *)(pt->base + in[i]);
				bytes += m[j++]->pkt_len;
			} else {
				pt->tx_bad_offset++;
			}
		}
		uint16_t sent = full ? 0 : rte_eth_tx_burst(port, queue, m, j);
		/* The caller hands over every packet: free what the device did not take. */
		if (sent < j) {
			for (uint16_t i = sent; i < j; i++)
				bytes -= m[i]->pkt_len;
			rte_pktmbuf_free_bulk(&m[sent], j - sent);
			qs->tx_dropped += j - sent;
			full = 1;
		}
		qs->tx_pkts += sent;
		qs->tx_bytes += bytes;
		total += sent;
		in += k;
		n -= k;
	}
	return total;
}

/*
 * As tz_tx_burst, but what the device does not take stays the caller's: the
 * return value k says that in[0..k) were consumed (sent, or refused as
 * offsets outside the pool, counted in tx_bad_offset) and in[k..n) are
 * untouched, to be offered again later (backpressure instead of loss).
 */
uint16_t tz_tx_burst_keep(uint16_t port, uint16_t queue, const uint32_t *in, uint16_t n)
{
	struct rte_mbuf *m[TZ_KEEP_CHUNK];
	uint16_t at[TZ_KEEP_CHUNK];
	struct tz_port *pt = &ports[port];
	struct tz_qstats *qs = &pt->q[queue & (TZ_MAX_QUEUES - 1)];
	uint16_t done = 0;
	while (done < n) {
		uint16_t left = n - done;
		uint16_t k = left < TZ_KEEP_CHUNK ? left : TZ_KEEP_CHUNK, j = 0;
		const uint32_t *c = in + done;
		uint64_t bytes = 0;
		for (uint16_t i = 0; i < k; i++) {
			/* An offset outside the span cannot be an mbuf of this pool: never hand it to the device. */
			if (c[i] < pt->span) {
				m[j] = (struct rte_mbuf *)(pt->base + c[i]);
				bytes += m[j]->pkt_len;
				at[j++] = i;
			}
		}
		uint16_t sent = j > 0 ? rte_eth_tx_burst(port, queue, m, j) : 0;
		/* Refused mbufs are still ours (a device may free what it took at once, as af_packet does). */
		for (uint16_t i = sent; i < j; i++)
			bytes -= m[i]->pkt_len;
		/* Consumed: everything before the first valid offset the device refused. */
		uint16_t used = sent < j ? at[sent] : k;
		pt->tx_bad_offset += used - sent;
		qs->tx_pkts += sent;
		qs->tx_bytes += bytes;
		done += used;
		if (sent < j) {
			qs->tx_refused += n - done;
			break;
		}
	}
	return done;
}

/*
 * Burst arrays registered once per queue, so that the bursts of the fast
 * path take one integer argument: koffi converts every argument on every
 * call, a typed array for ~120 instructions, an integer for ~35. The
 * caller keeps each registered array alive and registers again before
 * using another one; the handle names the queue, the count rides beside it
 * in the argument ((handle << 16) | n).
 */
#define TZ_QUEUE_HANDLES (RTE_MAX_ETHPORTS * TZ_MAX_QUEUES)
struct burst_array {
	uint32_t *a;
	uint32_t cap;
};
static struct burst_array reg_rx[TZ_QUEUE_HANDLES], reg_tx[TZ_QUEUE_HANDLES];

/* Hold `a` as the queue's array in `table`; returns the queue's handle. */
static int set_burst_array(struct burst_array *table, uint16_t port, uint16_t queue, uint32_t *a, uint32_t cap)
{
	if (port >= RTE_MAX_ETHPORTS || queue >= TZ_MAX_QUEUES || !a)
		return -EINVAL;
	int h = port * TZ_MAX_QUEUES + queue;
	table[h].a = a;
	table[h].cap = cap;
	return h;
}

/* The registered array `arg` ((handle << 16) | n) names in `table`, and its count; NULL if none. */
static struct burst_array *burst_array_of(struct burst_array *table, uint32_t arg, uint16_t *n)
{
	uint32_t h = arg >> 16;
	if (h >= TZ_QUEUE_HANDLES || !table[h].a)
		return NULL;
	*n = (uint16_t)(arg & 0xffff);
	if (*n > table[h].cap)
		*n = (uint16_t)table[h].cap;
	return &table[h];
}

int tz_rx_array(uint16_t port, uint16_t queue, uint32_t *a, uint32_t cap)
{
	return set_burst_array(reg_rx, port, queue, a, cap);
}

int tz_tx_array(uint16_t port, uint16_t queue, const uint32_t *a, uint32_t cap)
{
	/* Only read through it: tz_tx_burst_keep_reg passes it on as const. */
	return set_burst_array(reg_tx, port, queue, (uint32_t *)a, cap);
}

/* tz_rx_burst into the queue's registered array: arg = (handle << 16) | n. */
uint16_t tz_rx_burst_reg(uint32_t arg)
{
	uint16_t n;
	struct burst_array *b = burst_array_of(reg_rx, arg, &n);
	if (!b)
		return 0;
	uint32_t h = (uint32_t)(b - reg_rx);
	return tz_rx_burst((uint16_t)(h / TZ_MAX_QUEUES), (uint16_t)(h % TZ_MAX_QUEUES), b->a, n);
}

/* tz_tx_burst_keep from the queue's registered array: arg = (handle << 16) | n. */
uint16_t tz_tx_burst_keep_reg(uint32_t arg)
{
	uint16_t n;
	struct burst_array *b = burst_array_of(reg_tx, arg, &n);
	if (!b)
		return 0;
	uint32_t h = (uint32_t)(b - reg_tx);
	return tz_tx_burst_keep((uint16_t)(h / TZ_MAX_QUEUES), (uint16_t)(h % TZ_MAX_QUEUES), b->a, n);
}

int tz_queue_stats(uint16_t port, uint16_t queue, uint64_t *out)
{
	if (port >= RTE_MAX_ETHPORTS || queue >= TZ_MAX_QUEUES)
		return -EINVAL;
	const struct tz_qstats *qs = &ports[port].q[queue];
	out[0] = qs->rx_pkts;
	out[1] = qs->rx_bytes;
	out[2] = qs->tx_pkts;
	out[3] = qs->tx_bytes;
	out[4] = qs->tx_dropped;
	out[5] = qs->tx_refused;
	return 0;
}
