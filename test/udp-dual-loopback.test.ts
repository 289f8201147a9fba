/**
 * UDP sockets over IPv6 as Node's dgram dual-stack ones (src/udp/udp6.ts):
 * a udp6 socket on '::' takes IPv4 as IPv4-mapped addresses and sends to
 * them over IPv4, unless ipv6Only; bound to '::ffff:' + our IPv4 address it
 * is an IPv4 socket. UDP to our own addresses (both families) is delivered
 * by the stack's loopback (src/loopback.ts), never the wire.
 */
import { expect } from 'chai';
import { dualPair } from './helpers/dual-pair.js';
import type { UdpSocket } from '../src/udp/socket.js';
import type { Udp6Socket } from '../src/udp/udp6.js';

type AnySocket = UdpSocket | Udp6Socket;

const A4 = '10.9.0.1';
const B4 = '10.9.0.2';
const A6 = 'fd00:9::1';
const B6 = 'fd00:9::2';

function pair() {
  return dualPair({
    ip4: [`${A4}/24`, `${B4}/24`], ip6: [[`${A6}/64`], [`${B6}/64`]],
    nd: { routerSolicitations: 0, dadTransmits: 0 }, poolSize: 2048, runMs: 5_000,
  });
}

type Msg = { from: string; family: string; port: number; text: string };

describe('udp6 dual stack and UDP loopback', function () {
  this.timeout(60_000);

  it("a udp6 socket on '::' takes IPv4 peers as ::ffff:a.b.c.d and answers them over IPv4; IPv6 peers as before", async () => {
    const p = pair();
    const got: Msg[] = [];
    const srv = p.a.createSocket('udp6');
    srv.on('message', (d: Buffer, r) => { got.push({ from: r.address, family: r.family, port: r.port, text: d.toString() }); srv.send(`re:${d}`, r.port, r.address); });
    srv.bind(7000);
    const c4 = p.b.createSocket('udp4');
    const back4: string[] = [];
    c4.on('message', (d: Buffer, r) => back4.push(`${d} from ${r.address}:${r.port}`));
    c4.send('four', 7000, A4);
    const c6 = p.b.createSocket('udp6');
    const back6: string[] = [];
    c6.on('message', (d: Buffer, r) => back6.push(`${d} from ${r.address}:${r.port}`));
    c6.send('six', 7000, A6);
    expect(await p.run(() => back4.length === 1 && back6.length === 1)).to.equal(true);
    const p4 = c4.address().port;
    const p6 = c6.address().port;
    expect(got.sort((x, y) => x.text.localeCompare(y.text))).to.deep.equal([
      { from: `::ffff:${B4}`, family: 'IPv6', port: p4, text: 'four' },
      { from: B6, family: 'IPv6', port: p6, text: 'six' },
    ]);
    expect(back4).to.deep.equal([`re:four from ${A4}:7000`]);
    expect(back6).to.deep.equal([`re:six from ${A6}:7000`]);
    // A connected udp6 socket to an IPv4-mapped peer: sends without an address, hears ECONNREFUSED from a closed port.
    const cc = p.b.createSocket('udp6');
    const errs: string[] = [];
    cc.on('error', (e: Error & { code?: string }) => errs.push(e.code ?? ''));
    cc.connect(7999, `::ffff:${A4}`, () => cc.send('anyone?'));
    expect(await p.run(() => errs.length === 1)).to.equal(true);
    expect(errs).to.deep.equal(['ECONNREFUSED']);
    srv.close(); c4.close(); c6.close(); cc.close();
    await p.close();
  });

  it("ports: '::' conflicts with udp4 on the port unless ipv6Only; ipv6Only refuses IPv4; '::ffff:' + ours is IPv4 only", async () => {
    const p = pair();
    const codes: string[] = [];
    const bindResult = async (s: AnySocket, port: number, addr?: string): Promise<string> => {
      let r = '';
      s.once('error', (e: Error & { code?: string }) => { r = e.code ?? 'error'; });
      s.once('listening', () => { r = 'ok'; });
      s.bind(port, addr as string);
      await p.run(() => r !== '');
      return r;
    };
    const dual = p.a.createSocket('udp6');
    codes.push(await bindResult(dual, 7100));
    codes.push(await bindResult(p.a.createSocket('udp4'), 7100));
    const four = p.a.createSocket('udp4');
    codes.push(await bindResult(four, 7101));
    codes.push(await bindResult(p.a.createSocket('udp6'), 7101));
    const only = p.a.createSocket({ type: 'udp6', ipv6Only: true });
    codes.push(await bindResult(only, 7102));
    const beside = p.a.createSocket('udp4');
    codes.push(await bindResult(beside, 7102));
    expect(codes).to.deep.equal(['ok', 'EADDRINUSE', 'ok', 'EADDRINUSE', 'ok', 'ok']);
    // 7102: IPv4 reaches the udp4 socket, IPv6 the ipv6Only one.
    const heard: string[] = [];
    only.on('message', (d: Buffer) => heard.push(`only:${d}`));
    beside.on('message', (d: Buffer) => heard.push(`udp4:${d}`));
    const c4 = p.b.createSocket('udp4');
    c4.send('v4', 7102, A4);
    const c6 = p.b.createSocket('udp6');
    c6.send('v6', 7102, A6);
    expect(await p.run(() => heard.length === 2)).to.equal(true);
    expect(heard.sort()).to.deep.equal(['only:v6', 'udp4:v4']);
    // Bound to ::ffff:A4: IPv4 only; it cannot send to an IPv6 peer, and an ipv6Only socket cannot send to a mapped one.
    const mapped = p.a.createSocket('udp6');
    expect(await bindResult(mapped, 7103, `::ffff:${A4}`)).to.equal('ok');
    expect(mapped.address()).to.deep.equal({ address: `::ffff:${A4}`, family: 'IPv6', port: 7103 });
    const mappedHeard: string[] = [];
    mapped.on('message', (d: Buffer, r) => mappedHeard.push(`${d} ${r.address}`));
    c4.send('to-mapped', 7103, A4);
    c6.send('lost', 7103, A6);
    expect(await p.run(() => mappedHeard.length === 1)).to.equal(true);
    const sendErr = (s: AnySocket, port: number, addr: string): Promise<string> => new Promise((resolve) => {
      ((s as UdpSocket).send as (m: string, port: number, addr: string, cb: (e: Error | null) => void) => void)('x', port, addr, (e) => resolve((e as { code?: string } | null)?.code ?? 'ok'));
    });
    const e1 = sendErr(mapped, 9, B6);
    const e2 = sendErr(only, 9, `::ffff:${B4}`);
    let done: string[] = [];
    void Promise.all([e1, e2]).then((v) => { done = v; });
    await p.run(() => done.length === 2);
    expect(done).to.deep.equal(['ENETUNREACH', 'ENETUNREACH']);
    expect(mappedHeard).to.deep.equal([`to-mapped ::ffff:${B4}`]);
    for (const s of [dual, four, only, beside, c4, c6, mapped]) s.close();
    await p.close();
  });

  it('UDP to our own IPv4 and IPv6 addresses is delivered locally, not sent; a closed port there is a counted drop', async () => {
    const p = pair();
    await p.run(() => p.clock.now() > 1100);
    const got: string[] = [];
    const s4 = p.a.createSocket('udp4');
    s4.on('message', (d: Buffer, r) => got.push(`udp4 ${d} from ${r.address}:${r.port}`));
    s4.bind(7200);
    const s6 = p.a.createSocket('udp6');
    s6.on('message', (d: Buffer, r) => got.push(`udp6 ${d} from ${r.address}:${r.port}`));
    s6.bind(7201);
    const sender4 = p.a.createSocket('udp4');
    const sender6 = p.a.createSocket({ type: 'udp6', ipv6Only: true });
    sender4.bind(7300);
    sender6.bind(7301);
    await p.run(() => true);
    const bUdp4 = p.b.counters.udp.rx;
    const bIp6 = p.b.counters.ip6!.rx;
    const bIp4 = p.b.counters.ip.rx;
    sender4.send('a', 7200, A4);
    sender4.send('b', 7201, A4); // to the dual udp6 socket, over IPv4 loopback
    sender6.send('c', 7201, A6);
    sender4.send('d', 7999, A4); // nobody
    sender6.send('e', 7999, A6); // nobody
    expect(await p.run(() => got.length === 3 && p.a.counters.loopback.drops.udpNoSocket === 2)).to.equal(true);
    expect(got.sort()).to.deep.equal([
      `udp4 a from ${A4}:7300`,
      `udp6 b from ::ffff:${A4}:7300`,
      `udp6 c from ${A6}:7301`,
    ]);
    expect(p.a.counters.loopback.rx).to.equal(5);
    // Nothing reached the other stack.
    expect([p.b.counters.udp.rx, p.b.counters.ip6!.rx, p.b.counters.ip.rx]).to.deep.equal([bUdp4, bIp6, bIp4]);
    for (const s of [s4, s6, sender4, sender6]) s.close();
    await p.close();
  });
});
