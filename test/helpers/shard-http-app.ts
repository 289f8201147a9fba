/**
 * The application module of test/shard-netns.test.ts: every shard serves
 * HTTP with Node's own `http.createServer` over its stack (port 80, saying
 * which shard answered), and on `{ fetch: host, port, n }` fetches `/` from
 * that host `n` times from this shard (ctx.connect: software steering on a
 * device without RSS) and posts how many came back whole.
 */
import http from 'node:http';
import { NO_MBUF } from '../../src/mbuf/mempool.js';
import type { ShardContext } from '../../src/shard/sharded.js';
import type { TzSocket } from '../../src/tcp/socket.js';

export default function shard(ctx: ShardContext): void {
  const app = ctx.appCounters;
  app.requests = 0;
  const web = http.createServer((_req, res) => { app.requests++; res.end(`hello from shard ${ctx.shard}\n`); });
  ctx.stack.createServer((sock: TzSocket) => web.emit('connection', sock)).listen(80);
  ctx.onClose(() => { web.close(); });
  ctx.onMessage = (d) => {
    const f = d as { fetch: string; port: number; n: number };
    const pool = ctx.stack.pool;
    let ok = 0;
    let done = 0;
    const ports: number[] = [];
    for (let i = 0; i < f.n; i++) {
      const c = ctx.connect(f.fetch, f.port);
      ports.push(c.localPort);
      let text = '';
      c.onConnect = () => { c.write(new TextEncoder().encode(`GET / HTTP/1.0\r\nHost: ${f.fetch}\r\n\r\n`)); };
      c.onReadable = () => {
        for (let m = c.readMbuf(); m !== NO_MBUF; m = c.readMbuf()) {
          for (let s = m; s !== NO_MBUF; s = pool.next(s)) text += Buffer.from(pool.u8.subarray(pool.mtod(s), pool.mtod(s) + pool.dataLen(s))).toString('latin1');
          pool.free(m);
        }
      };
      c.onPeerFin = () => c.close();
      c.onClose = () => {
        if (/^HTTP\/1\.[01] 200/.test(text) && text.includes('sharded-fetch-ok')) ok++;
        if (++done === f.n) ctx.post({ shard: ctx.shard, ok, ports });
      };
    }
  };
}
