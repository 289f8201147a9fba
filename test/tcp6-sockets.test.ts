/**
 * Node-style sockets over IPv6 between two tzstacks on a memory link:
 * addresses as Node writes them, `family`/`remoteFamily` 'IPv6', a server
 * on '::' taking IPv4 peers as IPv4-mapped addresses unless `ipv6Only`,
 * '0.0.0.0' IPv4 only, connect to either family, and UDP (`udp6`).
 */
import { expect } from 'chai';
import { dualPair } from './helpers/dual-pair.js';
import type { TzSocket } from '../src/tcp/socket.js';

const A6 = 'fd00:7::1';
const B6 = 'fd00:7::2';

function pair() {
  return dualPair({
    ip4: ['10.7.0.1/24', '10.7.0.2/24'], ip6: [[`${A6}/64`], [`${B6}/64`]],
    nd: { routerSolicitations: 0 }, tcp: { timeWaitMs: 100 },
  });
}

function echo(s: TzSocket): void { s.on('data', (d: Buffer) => s.write(d)); s.on('end', () => s.end()); }

describe('sockets over IPv6 (two tzstacks)', function () {
  this.timeout(60_000);

  it("a server on '::' (the default) serves IPv6 and IPv4-mapped peers; addresses and families as Node's", async () => {
    const p = pair();
    await p.run(() => p.clock.now() > 2600); // DAD
    const seen: Array<{ ra: string | undefined; rf: string; la: string | undefined; lf: string }> = [];
    const srv = p.a.createServer((s) => { seen.push({ ra: s.remoteAddress, rf: s.remoteFamily, la: s.localAddress, lf: s.localFamily }); echo(s); });
    srv.listen(8000);
    await p.run(() => srv.listening);
    expect(srv.address()).to.deep.equal({ address: '::', family: 'IPv6', port: 8000 });
    const got: Buffer[] = [];
    const c6 = p.b.connect({ port: 8000, host: A6, allowHalfOpen: true });
    c6.on('data', (d: Buffer) => got.push(d));
    let ended6 = false;
    c6.on('end', () => { ended6 = true; });
    c6.end('over six');
    const c4 = p.b.connect(8000, '10.7.0.1');
    let got4 = '';
    c4.on('data', (d: Buffer) => { got4 += d.toString(); c4.end(); });
    c4.write('over four');
    expect(await p.run(() => ended6 && got4 === 'over four')).to.equal(true);
    expect(Buffer.concat(got).toString()).to.equal('over six');
    expect(c6.remoteAddress).to.equal(A6);
    expect(c6.remoteFamily).to.equal('IPv6');
    expect(c6.address()).to.deep.equal({ address: B6, family: 'IPv6', port: c6.localPort });
    expect(c4.remoteFamily).to.equal('IPv4');
    const bySix = seen.find((x) => x.ra === B6)!;
    expect(bySix).to.deep.equal({ ra: B6, rf: 'IPv6', la: A6, lf: 'IPv6' });
    const byFour = seen.find((x) => x.ra !== B6)!;
    expect(byFour).to.deep.equal({ ra: '::ffff:10.7.0.2', rf: 'IPv6', la: '::ffff:10.7.0.1', lf: 'IPv6' });
    srv.close();
    await p.run(() => p.a.tcp.connectionCount() === 0 && p.b.tcp.connectionCount() === 0);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it("ipv6Only refuses IPv4; '0.0.0.0' refuses IPv6; a connect to '::ffff:a.b.c.d' goes over IPv4", async () => {
    const p = pair();
    await p.run(() => p.clock.now() > 2600);
    const s6 = p.a.createServer(echo);
    s6.listen({ port: 8100, host: '::', ipv6Only: true });
    const s4 = p.a.createServer(echo);
    s4.listen(8200, '0.0.0.0');
    await p.run(() => s6.listening && s4.listening);
    expect(s4.address()).to.deep.equal({ address: '0.0.0.0', family: 'IPv4', port: 8200 });
    const errs: string[] = [];
    p.b.connect(8100, '10.7.0.1').on('error', (e: Error & { code?: string }) => errs.push(`4→v6only ${e.code}`));
    p.b.connect(8200, A6).on('error', (e: Error & { code?: string }) => errs.push(`6→v4only ${e.code}`));
    const m = p.b.connect(8200, '::ffff:10.7.0.1');
    let ok = false;
    m.on('data', () => { ok = true; m.end(); });
    m.write('x');
    expect(await p.run(() => errs.length === 2 && ok)).to.equal(true);
    expect(errs.sort()).to.deep.equal(['4→v6only ECONNREFUSED', '6→v4only ECONNREFUSED']);
    expect(m.remoteAddress).to.equal('::ffff:10.7.0.1');
    expect(m.remoteFamily).to.equal('IPv6');
    s6.close(); s4.close();
    await p.run(() => p.a.tcp.connectionCount() === 0 && p.b.tcp.connectionCount() === 0);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('listen on one of our IPv6 addresses takes connections to it only (a second server on the link-local address, same port); EADDRNOTAVAIL for one that is not ours', async () => {
    const p = pair();
    await p.run(() => p.clock.now() > 2600);
    const seen: string[] = [];
    const srv = p.a.createServer((s) => { seen.push(`global ${s.localAddress}`); echo(s); });
    srv.listen(8300, A6);
    await p.run(() => srv.listening);
    expect(srv.address()).to.deep.equal({ address: A6, family: 'IPv6', port: 8300 });
    const bad = p.a.createServer(echo);
    let badErr = '';
    bad.on('error', (e: Error & { code?: string }) => { badErr = e.code ?? ''; });
    bad.listen(8301, 'fd00:7::99');
    const { ipv6Of } = await import('../src/ipv6-attach.js');
    const { formatIpv6 } = await import('../src/ip/addr6.js');
    const ll = formatIpv6(ipv6Of(p.a)!.ip6.addresses.find((e) => e.origin === 'linkLocal')!.addr);
    // Nothing on the link-local address yet: refused, though the global one listens on the port.
    let refused = '';
    p.b.connect(8300, ll).on('error', (e: Error & { code?: string }) => { refused = e.code ?? ''; });
    expect(await p.run(() => refused !== '' && badErr !== '')).to.equal(true);
    expect(refused).to.equal('ECONNREFUSED');
    expect(badErr).to.equal('EADDRNOTAVAIL');
    const srvLl = p.a.createServer((s) => { seen.push(`link-local ${s.localAddress}`); echo(s); });
    srvLl.listen(8300, ll);
    await p.run(() => srvLl.listening);
    const c = p.b.connect(8300, ll);
    let back = '';
    c.on('data', (d: Buffer) => { back += d.toString(); c.end(); });
    c.write('link-local');
    const g = p.b.connect(8300, A6);
    let backG = '';
    g.on('data', (d: Buffer) => { backG += d.toString(); g.end(); });
    g.write('global');
    expect(await p.run(() => back === 'link-local' && backG === 'global')).to.equal(true);
    expect(seen.sort()).to.deep.equal([`global ${A6}`, `link-local ${ll}`]);
    expect(c.remoteAddress).to.equal(ll);
    expect(c.localAddress!.startsWith('fe80::')).to.equal(true);
    srv.close();
    srvLl.close();
    await p.run(() => p.a.tcp.connectionCount() === 0 && p.b.tcp.connectionCount() === 0);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it("udp6: bind on '::', echo between the stacks, rinfo IPv6; a connected socket hears ECONNREFUSED", async () => {
    const p = pair();
    await p.run(() => p.clock.now() > 2600);
    const srv = p.a.createSocket('udp6');
    srv.on('message', (msg, rinfo) => srv.send(msg, rinfo.port, rinfo.address));
    srv.bind(5300);
    const cl = p.b.createSocket({ type: 'udp6' });
    const got: Array<{ msg: string; address: string; family: string; port: number }> = [];
    cl.on('message', (msg, r) => got.push({ msg: msg.toString(), address: r.address, family: r.family, port: r.port }));
    cl.send('ping six', 5300, A6);
    cl.send(Buffer.alloc(3000, 7), 5300, A6); // fragmented both ways
    expect(await p.run(() => got.length === 2)).to.equal(true);
    expect(got[0]).to.deep.equal({ msg: 'ping six', address: A6, family: 'IPv6', port: 5300 });
    expect(got[1].msg.length).to.equal(3000);
    expect(srv.address()).to.deep.equal({ address: '::', family: 'IPv6', port: 5300 });
    expect(cl.address().family).to.equal('IPv6');
    const conn = p.b.createSocket('udp6');
    const errs: string[] = [];
    conn.on('error', (e: Error & { code?: string }) => errs.push(e.code ?? ''));
    conn.connect(5999, A6, () => conn.send('anyone?'));
    expect(await p.run(() => errs.length === 1)).to.equal(true);
    expect(errs).to.deep.equal(['ECONNREFUSED']);
    expect(conn.remoteAddress()).to.deep.equal({ address: A6, family: 'IPv6', port: 5999 });
    srv.close(); cl.close(); conn.close();
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('loopback: a stack connects to its own IPv4 and IPv6 addresses, nothing goes to the wire', async () => {
    const p = pair();
    await p.run(() => p.clock.now() > 2600);
    const wire0 = p.a.counters.eth.tx as number;
    const srv = p.a.createServer(echo);
    srv.listen(8400);
    await p.run(() => srv.listening);
    const data = Buffer.alloc(150_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 3) & 0xff;
    const results: string[] = [];
    for (const host of ['10.7.0.1', A6]) {
      const c = p.a.connect({ port: 8400, host, allowHalfOpen: true });
      const parts: Buffer[] = [];
      c.on('data', (d: Buffer) => parts.push(d));
      c.on('end', () => results.push(`${host} ${c.remoteFamily} ${Buffer.concat(parts).equals(data)}`));
      c.end(data);
    }
    expect(await p.run(() => results.length === 2)).to.equal(true);
    expect(results.sort()).to.deep.equal(['10.7.0.1 IPv4 true', `${A6} IPv6 true`].sort());
    expect(p.a.counters.loopback.rx).to.be.greaterThan(20);
    // Only what ND/MLD/ARP might send on their own: no TCP went out.
    expect(p.b.counters.tcp.rx).to.equal(0);
    void wire0;
    srv.close();
    await p.run(() => p.a.tcp.connectionCount() === 0);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });
});
