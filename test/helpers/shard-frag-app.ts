/**
 * The application module of test/shard-stack.test.ts's fragment test,
 * loaded by every shard. `server`: a UDP echo on port 7. `client`: on
 * `{ peer, size }`, this shard sends one UDP datagram of `size` bytes (IP
 * fragments them) to the peer's echo and pings it with `size` bytes, and
 * posts whether both came back whole to this shard.
 */
import { parseIpv4 } from '../../src/ip/addr.js';
import type { ShardContext } from '../../src/shard/sharded.js';

export default function shard(ctx: ShardContext): void {
  const { stack } = ctx;
  const role = (ctx.data as { role: string }).role;
  const app = ctx.appCounters;
  app.udpEchoed = 0;
  if (role === 'server') {
    const u = stack.createSocket('udp4');
    u.on('message', (msg, rinfo) => { app.udpEchoed++; u.send(msg, rinfo.port, rinfo.address); });
    u.bind(7);
    ctx.onClose(() => { u.close(); });
    return;
  }
  ctx.onMessage = (d) => {
    const { peer, size } = d as { peer: string; size: number };
    const msg = Buffer.alloc(size, ctx.shard + 1);
    let udp = false;
    let ping = false;
    const done = (): void => { if (udp && ping) ctx.post({ shard: ctx.shard, udp, ping }); };
    const u = stack.createSocket('udp4');
    u.on('message', (got) => { udp = got.equals(msg); u.close(); done(); });
    u.send(msg, 7, peer);
    const id = 0x7100 + ctx.shard;
    stack.ip.icmp.onEchoReply = (_src, rid, _seq, _m) => { if (rid === id) { ping = true; done(); } };
    stack.ip.icmp.ping(parseIpv4(peer), id, 1, size);
  };
}
