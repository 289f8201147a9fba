/**
 * A test double for a pair of connected TCP connections: bytes written on one
 * end become mbufs readable on the other, with a bounded buffer per
 * direction, FIN and RST. Enough to check TzSocket's stream semantics without
 * the TCP layer.
 */
import { NO_MBUF, type Mempool } from '../src/mbuf/mempool.js';
import type { SocketConnection, TcpErrorLike } from '../src/tcp/socket.js';
import { TcpState } from '../src/tcp/state.js';
import type { Mbuf } from '../src/mbuf/index.js';
import type { Ip4 } from '../src/ip/addr.js';

export class FakeConn implements SocketConnection {
  state: TcpState = TcpState.Established;
  peer!: FakeConn;
  readonly q: Mbuf[] = [];
  qBytes = 0;
  finReceived = false;
  finSent = false;
  localIp: Ip4;
  remoteIp: Ip4;
  onConnect?: () => void;
  onReadable?: () => void;
  onWritable?: () => void;
  onPeerFin?: () => void;
  onClose?: (err?: TcpErrorLike) => void;
  noDelay = false;
  keepAlive = false;
  aborted = false;

  constructor(readonly pool: Mempool, readonly cap: number, readonly localPort: number, readonly remotePort: number, ip: Ip4, peerIp: Ip4) {
    this.localIp = ip;
    this.remoteIp = peerIp;
  }

  get peerClosed(): boolean { return this.finReceived && this.q.length === 0; }
  sendSpace(): number { return this.state === TcpState.Closed || this.finSent ? 0 : Math.max(0, this.peer.cap - this.peer.qBytes); }
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.sendSpace());
    if (n <= 0) return 0;
    const m = this.pool.fromBytes(data.subarray(0, n));
    if (m === NO_MBUF) return 0;
    this.deliver(m);
    return n;
  }
  writeMbuf(m: Mbuf): boolean {
    if (this.pool.pktLen(m) > this.sendSpace()) return false;
    this.deliver(m);
    return true;
  }
  private deliver(m: Mbuf): void {
    this.peer.q.push(m);
    this.peer.qBytes += this.pool.pktLen(m);
    this.peer.onReadable?.();
  }
  readMbuf(): Mbuf {
    const m = this.q.shift();
    if (m === undefined) return NO_MBUF;
    this.qBytes -= this.pool.pktLen(m);
    this.peer.onWritable?.();
    return m;
  }
  readable(): number { return this.qBytes; }
  shutdown(): void {
    if (this.finSent || this.state === TcpState.Closed) return;
    this.finSent = true;
    this.peer.finReceived = true;
    this.peer.onPeerFin?.();
    this.maybeClosed();
  }
  private maybeClosed(): void {
    if (this.finSent && this.finReceived && this.peer.finSent && this.peer.finReceived) {
      // Unread data stays readable until the application closes.
      for (const c of [this, this.peer]) if (c.state !== TcpState.Closed) { c.state = TcpState.Closed; c.onClose?.(); }
    }
  }
  freeQ(): void {
    for (const m of this.q.splice(0)) this.pool.free(m);
    this.qBytes = 0;
  }
  close(): void {
    if (this.state === TcpState.Closed) { this.freeQ(); return; }
    if (this.q.length > 0) { this.abort(); return; }
    this.shutdown();
  }
  abort(): void {
    if (this.state === TcpState.Closed) return;
    this.aborted = true;
    this.state = TcpState.Closed;
    this.freeQ();
    this.onClose?.({ code: 'ECONNRESET' });
    const p = this.peer;
    if (p.state !== TcpState.Closed) { p.state = TcpState.Closed; p.freeQ(); p.onClose?.({ code: 'ECONNRESET' }); }
  }
  setNoDelay(on: boolean): void { this.noDelay = on; }
  setKeepAlive(on: boolean): void { this.keepAlive = on; }
}

/** Two connected fake connections; each direction buffers at most `cap` bytes. */
export function fakePair(pool: Mempool, cap = 16384): [FakeConn, FakeConn] {
  const a = new FakeConn(pool, cap, 40000, 80, 0x0a4a0001 as Ip4, 0x0a4a0002 as Ip4);
  const b = new FakeConn(pool, cap, 80, 40000, 0x0a4a0002 as Ip4, 0x0a4a0001 as Ip4);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
