/*
 * lwipbench: lwIP (C) over the very ports tzstack's in-process benchmark
 * uses, as the anchor for its figures: two net_ring ports crossed over two
 * rte_rings (tz_ring_pair), mbufs from a shim pool, rx/tx bursts through the
 * shim (native/pmd-shim/libtzshim.so), client and server lwIP netifs in one
 * process and one polling loop, lwIP's raw TCP API.
 *
 * Workloads as bench/rpc.ts and bench/bulk.ts: RPC ping-pong (one request of
 * `size` bytes in flight per connection, echoed by the server), and one bulk
 * connection. Prints one JSON line on stdout.
 *
 * Debian's liblwip is built with NO_SYS=0 and its own lwipopts.h (the Hurd
 * port's; struct layouts depend on those options, so this program must be
 * compiled against that very lwipopts.h, not one of its own). It is used
 * here as a NO_SYS=1 program would use lwIP: lwip_init() instead of
 * tcpip_init(), no tcpip thread, no locks, sys_check_timeouts() from the
 * polling loop. With no tcpip thread marked, the library's core-locking
 * check (sys_check_core_locking) does nothing.
 *
 * Copies, per frame:
 *   rx: none. The received mbuf is wrapped as a PBUF_REF custom pbuf whose
 *       struct lives in the mbuf's own headroom; freeing the pbuf returns
 *       the mbuf to the pool (batched into tz_pool_free_bulk).
 *   tx: one. lwIP's TCP keeps its segments (pbufs) for retransmission, so
 *       netif linkoutput copies each frame (headers and payload) into a
 *       fresh mbuf (pbuf_copy_partial) before tz_tx_burst.
 *   app: tcp_write(..., TCP_WRITE_FLAG_COPY) copies what the application
 *       sends into lwIP's pbufs (the RPC echo copies the request it got).
 * lwIP also computes IPv4 and TCP checksums in software both ways (Debian's
 * build has no per-netif checksum control); tzstack skips them on this
 * link, where the net_ring port marks them unneeded.
 *
 *   lwipbench [--mem MB] [--prefix P] [--warmup ms] [--duration ms]
 *             [--rpc 64x1,64x64,8192x1,8192x64] [--bulk 1|0] [--lcore N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_mbuf.h>

#include "lwip/init.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#include "tzshim.h"

#define BURST 32
#define STASH 64
#define MAX_CONNS 1024
#define MAX_RPC 16
#define RPC_PORT 7007
#define BULK_PORT 5201
#define BULK_CHUNK 65535

/* Where the pbuf_custom of a received mbuf lives: at the start of its buffer (headroom). */
struct rx_wrap {
	struct pbuf_custom pc;
	uint32_t off;
};

struct side {
	struct netif nif;
	uint16_t port;
	uint32_t tx[BURST];
	unsigned ntx;
	uint64_t txFrames;
};

static int pool;
static uintptr_t pool_base;
static uint32_t pool_size;
static struct side sides[2];
static uint32_t alloc_stash[STASH];
static unsigned nalloc;
static uint32_t free_stash[STASH];
static unsigned nfree;
static uint64_t tx_drops, alloc_fail, echo_fail;

static inline struct rte_mbuf *mb(uint32_t off) { return (struct rte_mbuf *)(pool_base + off); }

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void flush_free(void)
{
	if (nfree) {
		tz_pool_free_bulk(pool, free_stash, nfree);
		nfree = 0;
	}
}

static void free_mbuf(uint32_t off)
{
	if (nfree == STASH)
		flush_free();
	free_stash[nfree++] = off;
}

static int alloc_mbuf(uint32_t *off)
{
	if (nalloc == 0) {
		if (tz_pool_alloc_bulk(pool, alloc_stash, STASH) != 0)
			return -1;
		nalloc = STASH;
	}
	*off = alloc_stash[--nalloc];
	return 0;
}

static void flush_tx(struct side *s)
{
	unsigned sent = 0;
	/* The ring is 4096 deep and drained every loop: a short write is rare; drop the rest then. */
	for (int tries = 0; sent < s->ntx && tries < 4; tries++)
		sent += tz_tx_burst(s->port, 0, s->tx + sent, (uint16_t)(s->ntx - sent));
	s->txFrames += sent;
	for (unsigned i = sent; i < s->ntx; i++) {
		free_mbuf(s->tx[i]);
		tx_drops++;
	}
	s->ntx = 0;
}

static err_t linkoutput(struct netif *nif, struct pbuf *p)
{
	struct side *s = (struct side *)nif->state;
	uint32_t off;
	if (p->tot_len > 2048 || alloc_mbuf(&off) != 0) {
		alloc_fail++;
		return ERR_MEM;
	}
	struct rte_mbuf *m = mb(off);
	/* The one copy on transmit: lwIP keeps its pbufs until they are acknowledged. */
	pbuf_copy_partial(p, rte_pktmbuf_mtod(m, void *), p->tot_len, 0);
	m->data_len = p->tot_len;
	m->pkt_len = p->tot_len;
	if (s->ntx == BURST)
		flush_tx(s);
	s->tx[s->ntx++] = off;
	return ERR_OK;
}

static void rx_free(struct pbuf *p)
{
	free_mbuf(((struct rx_wrap *)p)->off);
}

static err_t nif_init(struct netif *nif)
{
	nif->name[0] = 't';
	nif->name[1] = 'z';
	nif->mtu = 1500;
	nif->hwaddr_len = 6;
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP | NETIF_FLAG_UP;
	nif->output = etharp_output;
	nif->linkoutput = linkoutput;
	return ERR_OK;
}

static uint64_t rx_frames;

static void rx_side(struct side *s)
{
	uint32_t offs[BURST];
	uint16_t n = tz_rx_burst(s->port, 0, offs, BURST);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = mb(offs[i]);
		struct rx_wrap *w = (struct rx_wrap *)m->buf_addr;
		w->off = offs[i];
		w->pc.custom_free_function = rx_free;
		struct pbuf *p = pbuf_alloced_custom(PBUF_RAW, m->data_len, PBUF_REF, &w->pc,
						     rte_pktmbuf_mtod(m, void *), m->data_len);
		if (!p || s->nif.input(p, &s->nif) != ERR_OK) {
			if (p)
				pbuf_free(p);
			else
				free_mbuf(offs[i]);
		}
	}
	rx_frames += n;
}

static unsigned loops;

static void poll_once(void)
{
	rx_side(&sides[0]);
	rx_side(&sides[1]);
	flush_tx(&sides[0]);
	flush_tx(&sides[1]);
	flush_free();
	if ((++loops & 63) == 0)
		sys_check_timeouts();
}

/* ---- latency samples ---- */
#define MAX_SAMPLES (1u << 22)
static double *samples;
static unsigned nsamples;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double q)
{
	if (nsamples == 0)
		return -1;
	unsigned i = (unsigned)(q * nsamples);
	if (i >= nsamples)
		i = nsamples - 1;
	return samples[i] / 1000.0;
}

/* ---- RPC ---- */
static unsigned rpc_size;
static int measuring;
static uint64_t completed;
static uint8_t msg[BULK_CHUNK];

struct cli {
	struct tcp_pcb *pcb;
	uint32_t got;
	double sent_at;
	int connected;
};
static struct cli clis[MAX_CONNS];
static struct tcp_pcb *srvs[MAX_CONNS * 2];
static unsigned nsrv;

static void srv_err(void *arg, err_t err)
{
	(void)err;
	srvs[(uintptr_t)arg] = NULL; /* lwIP freed the pcb */
}

static err_t echo_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p)
		return ERR_OK;
	for (struct pbuf *q = p; q; q = q->next)
		if (tcp_write(pcb, q->payload, q->len, TCP_WRITE_FLAG_COPY | (q->next ? TCP_WRITE_FLAG_MORE : 0)) != ERR_OK)
			echo_fail++;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	tcp_output(pcb);
	return ERR_OK;
}

static err_t srv_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || !pcb || nsrv >= sizeof(srvs) / sizeof(srvs[0]))
		return ERR_VAL;
	tcp_bind_netif(pcb, &sides[1].nif);
	tcp_nagle_disable(pcb);
	tcp_arg(pcb, (void *)(uintptr_t)nsrv);
	srvs[nsrv++] = pcb;
	tcp_recv(pcb, echo_recv);
	tcp_err(pcb, srv_err);
	return ERR_OK;
}

static void rpc_send(struct cli *c)
{
	c->sent_at = now_ns();
	if (tcp_write(c->pcb, msg, (u16_t)rpc_size, TCP_WRITE_FLAG_COPY) != ERR_OK)
		echo_fail++;
	tcp_output(c->pcb);
}

static err_t cli_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct cli *c = arg;
	(void)err;
	if (!p)
		return ERR_OK;
	c->got += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	while (c->got >= rpc_size) {
		c->got -= rpc_size;
		double t = now_ns();
		if (measuring) {
			if (nsamples < MAX_SAMPLES)
				samples[nsamples++] = t - c->sent_at;
			completed++;
		}
		rpc_send(c);
	}
	return ERR_OK;
}

static err_t cli_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct cli *c = arg;
	(void)pcb;
	if (err != ERR_OK)
		return err;
	c->connected = 1;
	if (rpc_size)
		rpc_send(c);
	return ERR_OK;
}

static void cli_err(void *arg, err_t err)
{
	struct cli *c = arg;
	(void)err;
	c->pcb = NULL;
	c->connected = 0;
}

static ip_addr_t ip_a, ip_b;

static struct tcp_pcb *listen_on(uint16_t port)
{
	struct tcp_pcb *l = tcp_new();
	if (!l)
		return NULL;
	tcp_bind_netif(l, &sides[1].nif);
	if (tcp_bind(l, &ip_b, port) != ERR_OK) {
		tcp_abort(l);
		return NULL;
	}
	struct tcp_pcb *ll = tcp_listen_with_backlog(l, 255);
	if (!ll) {
		tcp_abort(l);
		return NULL;
	}
	tcp_accept(ll, srv_accept);
	return ll;
}

static unsigned connect_all(unsigned conns, uint16_t port, tcp_recv_fn recv)
{
	memset(clis, 0, sizeof(clis));
	for (unsigned i = 0; i < conns; i++) {
		struct cli *c = &clis[i];
		c->pcb = tcp_new();
		if (!c->pcb)
			break;
		tcp_bind_netif(c->pcb, &sides[0].nif);
		tcp_nagle_disable(c->pcb);
		tcp_arg(c->pcb, c);
		tcp_recv(c->pcb, recv);
		tcp_err(c->pcb, cli_err);
		if (tcp_connect(c->pcb, &ip_b, port, cli_connected) != ERR_OK) {
			tcp_abort(c->pcb);
			c->pcb = NULL;
		}
	}
	unsigned up = 0;
	double end = now_ns() + 5e9;
	while (now_ns() < end) {
		for (int k = 0; k < 64; k++)
			poll_once();
		up = 0;
		for (unsigned i = 0; i < conns; i++)
			up += clis[i].connected;
		if (up == conns)
			break;
	}
	return up;
}

/* In lwIP's private header (lwip/priv/tcp_priv.h); exported by the library. */
void tcp_abandon(struct tcp_pcb *pcb, int reset);

/* Drop whatever is still in the rings without feeding it to lwIP. */
static void drain(void)
{
	uint32_t offs[BURST];
	for (int k = 0; k < 256; k++) {
		for (int i = 0; i < 2; i++) {
			uint16_t n = tz_rx_burst(sides[i].port, 0, offs, BURST);
			for (uint16_t j = 0; j < n; j++)
				free_mbuf(offs[j]);
		}
		flush_tx(&sides[0]);
		flush_tx(&sides[1]);
		flush_free();
	}
}

/*
 * Both ends are dropped at once without RSTs (tcp_abandon), and the frames
 * still in flight are discarded: a segment reaching a closed pcb on the
 * client's netif would make lwIP answer with an RST routed by address, to
 * the server's own address, which lwIP loops back internally through
 * tcpip_try_callback, and there is no tcpip thread here.
 */
static void teardown(unsigned conns, struct tcp_pcb *listener)
{
	for (unsigned i = 0; i < conns; i++) {
		if (clis[i].pcb) {
			struct tcp_pcb *p = clis[i].pcb;
			tcp_err(p, NULL);
			clis[i].pcb = NULL;
			tcp_abandon(p, 0);
		}
	}
	for (unsigned i = 0; i < nsrv; i++) {
		if (srvs[i]) {
			struct tcp_pcb *p = srvs[i];
			tcp_err(p, NULL);
			srvs[i] = NULL;
			tcp_abandon(p, 0);
		}
	}
	nsrv = 0;
	if (listener)
		tcp_close(listener);
	drain();
}

static void run_for(double ms, void (*work)(void))
{
	double end = now_ns() + ms * 1e6;
	while (now_ns() < end)
		for (int k = 0; k < 64; k++) {
			poll_once();
			if (work)
				work();
		}
}

static int rpc_run(unsigned size, unsigned conns, double warmup, double duration, char *out, size_t cap)
{
	static unsigned seq;
	uint16_t port = (uint16_t)(RPC_PORT + seq++);
	struct tcp_pcb *l = listen_on(port);
	if (!l)
		return snprintf(out, cap, "{\"size\":%u,\"conns\":%u,\"error\":\"listen failed\"}", size, conns);
	rpc_size = size;
	completed = 0;
	nsamples = 0;
	measuring = 0;
	unsigned up = connect_all(conns, port, cli_recv);
	run_for(warmup, NULL);
	measuring = 1;
	double t0 = now_ns();
	run_for(duration, NULL);
	double secs = (now_ns() - t0) / 1e9;
	measuring = 0;
	unsigned stalled = 0;
	for (unsigned i = 0; i < conns; i++)
		stalled += !clis[i].connected;
	teardown(conns, l);
	qsort(samples, nsamples, sizeof(double), cmp_double);
	return snprintf(out, cap,
		"{\"size\":%u,\"conns\":%u,\"connsEstablished\":%u,\"reqPerSec\":%.1f,\"latencyUs\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f},"
		"\"requests\":%llu,\"seconds\":%.4f,\"stalled\":%u}",
		size, conns, up, completed / secs, pct(0.5), pct(0.99), pct(0.999),
		(unsigned long long)completed, secs, stalled);
}

/* ---- bulk ---- */
static uint64_t bulk_rx;

static err_t sink_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p)
		return ERR_OK;
	bulk_rx += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t sink_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	err_t r = srv_accept(arg, pcb, err);
	if (r == ERR_OK)
		tcp_recv(pcb, sink_recv);
	return r;
}

static void bulk_fill(void)
{
	struct tcp_pcb *p = clis[0].pcb;
	if (!p || !clis[0].connected)
		return;
	int wrote = 0;
	for (;;) {
		u16_t room = tcp_sndbuf(p);
		if (room < 1460 || tcp_sndqueuelen(p) >= TCP_SND_QUEUELEN - 8)
			break;
		if (tcp_write(p, msg, room, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		wrote = 1;
	}
	if (wrote)
		tcp_output(p);
}

static int bulk_run(double warmup, double duration, char *out, size_t cap)
{
	struct tcp_pcb *l = tcp_new();
	tcp_bind_netif(l, &sides[1].nif);
	tcp_bind(l, &ip_b, BULK_PORT);
	l = tcp_listen_with_backlog(l, 4);
	tcp_accept(l, sink_accept);
	rpc_size = 0;
	unsigned up = connect_all(1, BULK_PORT, NULL);
	run_for(warmup, bulk_fill);
	uint64_t b0 = bulk_rx, data0 = sides[0].txFrames, fr0 = sides[0].txFrames + sides[1].txFrames;
	double c0 = cpu_ns(), t0 = now_ns();
	run_for(duration, bulk_fill);
	double secs = (now_ns() - t0) / 1e9, cpu = cpu_ns() - c0;
	uint64_t bytes = bulk_rx - b0, data = sides[0].txFrames - data0;
	uint64_t frames = sides[0].txFrames + sides[1].txFrames - fr0;
	teardown(1, l);
	return snprintf(out, cap,
		"{\"connsEstablished\":%u,\"gbps\":%.4f,\"bytes\":%llu,\"seconds\":%.4f,\"frames\":%llu,\"dataFrames\":%llu,"
		"\"cpuNsPerFrame\":%.1f,\"cpuNsPerSegment\":%.1f}",
		up, bytes * 8 / secs / 1e9, (unsigned long long)bytes, secs, (unsigned long long)frames,
		(unsigned long long)data, frames ? cpu / frames : -1, data ? cpu / data : -1);
}

static int first_cpu(void)
{
	cpu_set_t s;
	if (sched_getaffinity(0, sizeof(s), &s) == 0)
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &s))
				return i;
	return 0;
}

static void die(const char *what, int err)
{
	printf("{\"error\":\"%s: %s\"}\n", what, err < 0 ? tz_strerror(-err) : "failed");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *mem = "256", *prefix = NULL, *rpc = "64x1,64x64,8192x1,8192x64";
	double warmup = 200, duration = 1000;
	int bulk = 1, lcore = first_cpu();
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mem")) mem = argv[i + 1];
		else if (!strcmp(argv[i], "--prefix")) prefix = argv[i + 1];
		else if (!strcmp(argv[i], "--warmup")) warmup = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--duration")) duration = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--rpc")) rpc = argv[i + 1];
		else if (!strcmp(argv[i], "--bulk")) bulk = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--lcore")) lcore = atoi(argv[i + 1]);
		else { fprintf(stderr, "lwipbench: unknown flag %s\n", argv[i]); return 2; }
	}
	char pfx[64], lc[16];
	if (!prefix) {
		snprintf(pfx, sizeof(pfx), "tzX-lwip-%d", (int)getpid());
		prefix = pfx;
	}
	snprintf(lc, sizeof(lc), "%d", lcore);
	char *eal[] = { "lwipbench", "--no-huge", "-m", (char *)mem, "--no-pci", "--no-telemetry",
			"--file-prefix", (char *)prefix, "-l", lc, "--log-level", "lib.eal:warning", NULL };
	int r = tz_eal_init(12, eal);
	if (r < 0)
		die("EAL init", r);
	uint64_t info[TZ_POOL_INFO_COUNT];
	char name[64];
	snprintf(name, sizeof(name), "lwip%d", (int)getpid());
	pool = tz_pool_create(name, 16383, 256, 2048, info);
	if (pool < 0)
		die("pool", pool);
	pool_base = (uintptr_t)info[TZ_POOL_BASE];
	pool_size = (uint32_t)info[TZ_POOL_SIZE];
	uint16_t ports[2];
	snprintf(name, sizeof(name), "lw%d", (int)getpid());
	if ((r = tz_ring_pair(name, 4096, ports)) < 0)
		die("ring pair", r);
	for (int k = 0; k < 2; k++) {
		if ((r = tz_port_setup_rss(ports[k], pool, 1, 1, 1024, 0, 0, 0, NULL, 0, 0)) < 0) /* one queue: no RSS */
			die("port setup", r);
		if ((r = tz_port_start(ports[k])) < 0)
			die("port start", r);
	}
	samples = malloc(sizeof(double) * MAX_SAMPLES);
	memset(msg, 0x5a, sizeof(msg));

	lwip_init();
	IP_ADDR4(&ip_a, 10, 75, 9, 1);
	IP_ADDR4(&ip_b, 10, 75, 9, 2);
	ip4_addr_t mask, gw;
	IP4_ADDR(&mask, 255, 255, 255, 0);
	IP4_ADDR(&gw, 0, 0, 0, 0);
	/*
	 * netif_add puts the newest netif first, and lwIP routes by the first netif
	 * whose subnet matches: B (the server) is added last, so its replies leave
	 * through B; the client's pcbs are bound to A (tcp_bind_netif). Otherwise a
	 * reply to A's address would be looped back inside lwIP, not sent.
	 */
	for (int k = 0; k < 2; k++) {
		struct side *s = &sides[k];
		s->port = ports[k];
		uint8_t mac[6] = { 0x02, 0x6c, 0x77, 0x69, 0x70, (uint8_t)(k + 1) };
		memcpy(s->nif.hwaddr, mac, 6);
		if (!netif_add(&s->nif, ip_2_ip4(k ? &ip_b : &ip_a), &mask, &gw, s, nif_init, ethernet_input))
			die("netif_add", 0);
		netif_set_up(&s->nif);
		netif_set_link_up(&s->nif);
	}

	static char out[8192];
	size_t len = 0;
	len += snprintf(out + len, sizeof(out) - len, "{\"lwip\":\"%s\",\"rpc\":[", LWIP_VERSION_STRING);
	char *spec = strdup(rpc), *save = NULL;
	int first = 1;
	for (char *t = strtok_r(spec, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned size = 0, conns = 0;
		if (sscanf(t, "%ux%u", &size, &conns) != 2 || size == 0 || size > BULK_CHUNK || conns == 0 || conns > MAX_CONNS)
			continue;
		if (!first)
			out[len++] = ',';
		first = 0;
		len += rpc_run(size, conns, warmup, duration, out + len, sizeof(out) - len);
	}
	len += snprintf(out + len, sizeof(out) - len, "],\"bulk\":");
	if (bulk)
		len += bulk_run(warmup, duration, out + len, sizeof(out) - len);
	else
		len += snprintf(out + len, sizeof(out) - len, "null");
	if (nalloc) {
		tz_pool_free_bulk(pool, alloc_stash, nalloc);
		nalloc = 0;
	}
	flush_free();
	uint32_t avail = tz_pool_avail(pool);
	/* Anything still in lwIP (TIME-WAIT, ARP queue) or in the rings counts as left. */
	len += snprintf(out + len, sizeof(out) - len,
		",\"txDrops\":%llu,\"allocFailures\":%llu,\"writeFailures\":%llu,\"rxFrames\":%llu,\"mbufsLeft\":%u,"
		"\"copies\":\"tx: one per frame (pbuf to mbuf); rx: none (mbuf wrapped as a pbuf); app: tcp_write copies\"}",
		(unsigned long long)tx_drops, (unsigned long long)alloc_fail, (unsigned long long)echo_fail,
		(unsigned long long)rx_frames, pool_size - avail);
	puts(out);
	fflush(stdout);
	tz_port_close(ports[0]);
	tz_port_close(ports[1]);
	return 0;
}
