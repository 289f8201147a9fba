/**
 * The application module of test/shard-stack.test.ts, loaded by every shard.
 * `server`: a zero-copy echo on port 7 counting connections per shard, and
 * a shard that throws when told `crash` or calls process.exit(7) when told `exit`;
 * port 9 accepts and never reads. Client `{ hold }`: sends 20 KB to port 9. `client`: on `{ go }`, opens
 * `conns` connections from this shard, sends `size` bytes on each, checks
 * the echo, closes and posts what it saw.
 */
import { NO_MBUF } from '../../src/mbuf/mempool.js';
import type { ShardContext } from '../../src/shard/sharded.js';
import { TcpState } from '../../src/tcp/state.js';

/** `ctx.data` of this module. */
export interface ShardAppData { role: 'server' | 'client' }

export default function shard(ctx: ShardContext): void {
  const { stack } = ctx;
  const pool = stack.pool;
  const data = ctx.data as ShardAppData;
  const app = ctx.appCounters;
  app.connections = 0;
  app.bytes = 0;
  if (data.role === 'server') {
    const l = stack.tcp.listen(7, { backlog: 256 });
    l.onConnection = (c) => {
      app.connections++;
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
          app.bytes += pool.pktLen(m);
          if (!c.writeMbuf(m)) pool.free(m);
        }
      };
      c.onPeerFin = () => c.close();
    };
    // Port 9 never reads: what arrives stays in the connection's receive buffer (mbufs the stack holds).
    app.held = 0;
    const hold = stack.tcp.listen(9, { backlog: 16 });
    hold.onConnection = () => { app.held++; };
    ctx.onMessage = (d) => {
      if (d === 'crash') setTimeout(() => { throw new Error(`boom in shard ${ctx.shard}`); }, 0);
      if (d === 'exit') process.exit(7);
    };
    return;
  }
  ctx.onMessage = (d) => {
    if ((d as { hold?: string }).hold !== undefined) {
      const c = ctx.connect((d as { hold: string }).hold, 9, { noDelay: true });
      c.onConnect = () => { c.write(new Uint8Array(20000).fill(1)); };
      return;
    }
    const go = d as { peer: string; conns: number; size: number };
    const msg = new Uint8Array(go.size).map((_, i) => (i * 7 + ctx.shard) & 0xff);
    let done = 0;
    let ok = 0;
    const ports: number[] = [];
    const finish = (): void => { if (++done === go.conns) ctx.post({ shard: ctx.shard, ok, ports }); };
    for (let i = 0; i < go.conns; i++) {
      const c = ctx.connect(go.peer, 7, { noDelay: true });
      ports.push(c.localPort);
      const got: number[] = [];
      let finished = false;
      const end = (good: boolean): void => { if (finished) return; finished = true; if (good) ok++; finish(); };
      c.onConnect = () => { c.write(msg); };
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
          for (let s = m; s !== NO_MBUF; s = pool.next(s)) {
            const p = pool.mtod(s);
            for (let k = 0; k < pool.dataLen(s); k++) got.push(pool.u8[p + k]);
          }
          pool.free(m);
        }
        if (got.length >= msg.length) {
          app.connections++;
          app.bytes += got.length;
          end(got.length === msg.length && got.every((b, k) => b === msg[k]));
          c.close();
        }
      };
      c.onClose = () => end(false);
      if (c.state === TcpState.Closed) end(false);
    }
  };
}
