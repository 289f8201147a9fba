/**
 * poll() and epoll readiness of a drill socket, from the connection's real
 * state, as Linux's `tcp_poll` computes it (net/ipv4/tcp.c), and an epoll
 * instance with level- and edge-triggered items (fs/eventpoll.c).
 *
 * tcp_poll: HUP when both directions are shut or the socket is closed; IN
 * and RDHUP once the receive side is shut (FIN received, SHUT_RD, or the
 * connection gone); for a connected socket (or a passive Fast Open child in
 * SYN-RECEIVED) IN when data is readable and OUT while the send buffer has
 * room (`__sk_stream_is_writeable`: free space at least half of what is
 * queued) or the send side is shut; OUT for a TCP_FASTOPEN_CONNECT socket
 * whose SYN waits for the first write; ERR while an error is pending. A
 * listener is readable when its accept queue is not empty.
 */

export const POLL = {
  POLLIN: 0x1, POLLPRI: 0x2, POLLOUT: 0x4, POLLERR: 0x8, POLLHUP: 0x10, POLLNVAL: 0x20,
  POLLRDNORM: 0x40, POLLRDBAND: 0x80, POLLWRNORM: 0x100, POLLWRBAND: 0x200, POLLMSG: 0x400, POLLRDHUP: 0x2000,
  EPOLLIN: 0x1, EPOLLPRI: 0x2, EPOLLOUT: 0x4, EPOLLERR: 0x8, EPOLLHUP: 0x10, EPOLLRDNORM: 0x40, EPOLLRDBAND: 0x80,
  EPOLLWRNORM: 0x100, EPOLLWRBAND: 0x200, EPOLLMSG: 0x400, EPOLLRDHUP: 0x2000,
  EPOLLEXCLUSIVE: 1 << 28, EPOLLWAKEUP: 1 << 29, EPOLLONESHOT: 1 << 30, EPOLLET: 2 ** 31,
  EPOLL_CTL_ADD: 1, EPOLL_CTL_DEL: 2, EPOLL_CTL_MOD: 3,
} as const;

const IN = POLL.POLLIN | POLL.POLLRDNORM;
const OUT = POLL.POLLOUT | POLL.POLLWRNORM;

/** What tcp_poll looks at, read off a drill socket. */
export interface PollView {
  listening: boolean;
  /** Connections waiting in the accept queue. */
  acceptable: number;
  /** SYN-SENT, or SYN-RECEIVED other than a Fast Open child: not yet connected. */
  connecting: boolean;
  /** TCP_FASTOPEN_CONNECT: connect() returned 0, the SYN waits for the first write (Linux DEFER_CONNECT). */
  deferredConnect: boolean;
  /** No connection ever (a fresh socket), or the connection is gone (reset, timed out, closed). */
  closed: boolean;
  readable: number;
  /** Receive side shut: FIN received, shutdown(SHUT_RD), or the connection gone. */
  rcvShut: boolean;
  /** Send side shut: shutdown(SHUT_WR), or the connection gone. */
  sndShut: boolean;
  /** Bytes queued (unacknowledged and unsent) and the send buffer's size. */
  queued: number;
  sndBuf: number;
  /** TCP_NOTSENT_LOWAT allows writing: no mark, or less than half of it unsent. */
  notsentOk: boolean;
  /** An error is pending (SO_ERROR). */
  error: boolean;
}

/** The poll mask of a socket (Linux tcp_poll). */
export function tcpPollMask(v: PollView): number {
  if (v.listening) return v.acceptable > 0 ? IN : 0;
  let mask = 0;
  if ((v.rcvShut && v.sndShut) || v.closed) mask |= POLL.POLLHUP;
  if (v.rcvShut) mask |= IN | POLL.POLLRDHUP;
  if (!v.connecting) {
    if (v.readable > 0) mask |= IN;
    // __sk_stream_is_writeable: sk_stream_wspace >= sk_stream_min_wspace, i.e. free >= queued / 2.
    // TCP_NOTSENT_LOWAT too (tcp_stream_memory_free with wake: unsent × 2 below the mark).
    if (v.sndShut || (v.sndBuf - v.queued >= (v.queued >> 1) && v.notsentOk)) mask |= OUT;
  } else if (v.deferredConnect) {
    mask |= OUT;
  }
  if (v.error) mask |= POLL.POLLERR;
  return mask;
}

/** What poll() reports of a socket: the mask within the events asked, ERR and HUP always. */
export function pollRevents(mask: number, events: number): number {
  return mask & (events | POLL.POLLERR | POLL.POLLHUP);
}

/** One fd in an epoll set. */
interface EpItem {
  fd: number;
  events: number;
  /** epoll_data, as the script names it (`fd=4` or `ptr=N`). */
  data: number;
  /** A wake-up (or the ADD/MOD itself) since the item was last reported: what edge-triggered items report on. */
  ready: boolean;
  /** EPOLLONESHOT item already reported: silent until EPOLL_CTL_MOD. */
  disabled: boolean;
  /** The socket's state at the last look, to see wake-ups. */
  sig: string;
}

/**
 * An epoll instance. The interpreter calls {@link observe} after every step
 * of the run with each socket's state signature: a change is a wake-up
 * (data, a FIN, a state change, an error, acknowledged data), which is what
 * re-arms an edge-triggered item, as the socket callbacks do in Linux.
 */
export class Epoll {
  private readonly items = new Map<number, EpItem>();

  /** epoll_ctl; an errno name on failure. */
  ctl(op: number, fd: number, events: number, data: number, sig: string, mask: number): string | null {
    const it = this.items.get(fd);
    switch (op) {
      case POLL.EPOLL_CTL_ADD:
        if (it) return 'EEXIST';
        // ep_insert polls the file at once: a ready file is on the ready list from the start.
        this.items.set(fd, { fd, events, data, ready: (mask & (events | POLL.EPOLLERR | POLL.EPOLLHUP)) !== 0, disabled: false, sig });
        return null;
      case POLL.EPOLL_CTL_MOD:
        if (!it) return 'ENOENT';
        it.events = events;
        it.data = data;
        it.disabled = false;
        it.ready = (mask & (events | POLL.EPOLLERR | POLL.EPOLLHUP)) !== 0;
        it.sig = sig;
        return null;
      case POLL.EPOLL_CTL_DEL:
        if (!it) return 'ENOENT';
        this.items.delete(fd);
        return null;
      default: return 'EINVAL';
    }
  }

  /** The fds in the set. */
  fds(): number[] { return [...this.items.keys()]; }

  /** A socket's state now; a change since the last look is a wake-up. */
  observe(fd: number, sig: string): void {
    const it = this.items.get(fd);
    if (it && it.sig !== sig) { it.sig = sig; it.ready = true; }
  }

  /** A closed fd leaves every epoll set (its last reference gone). */
  forget(fd: number): void { this.items.delete(fd); }

  /**
   * epoll_wait without blocking: up to `max` ready items with their events,
   * consuming edge-triggered wake-ups and one-shot items.
   * @param maskOf - the current poll mask of an fd
   */
  collect(max: number, maskOf: (fd: number) => number): Array<{ events: number; data: number }> {
    const out: Array<{ events: number; data: number }> = [];
    for (const it of this.items.values()) {
      if (out.length >= max) break;
      if (it.disabled) continue;
      const et = (it.events & POLL.EPOLLET) !== 0;
      if (et && !it.ready) continue;
      const ev = maskOf(it.fd) & (it.events | POLL.EPOLLERR | POLL.EPOLLHUP);
      if (ev === 0) { it.ready = false; continue; }
      out.push({ events: ev, data: it.data });
      if (et) it.ready = false;
      if (it.events & POLL.EPOLLONESHOT) it.disabled = true;
    }
    return out;
  }
}
