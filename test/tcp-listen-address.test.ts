/**
 * Listeners bound to one address (src/tcp/layer.ts listen's `address6`,
 * src/tcp/server.ts): a server on one IPv6 address of ours takes
 * connections to that address only, several servers share a port on
 * different addresses, and EADDRINUSE follows Linux's rules for listening
 * sockets (a wildcard and another listener of its family on one port
 * conflict; '::' without ipv6Only conflicts with IPv4 listeners too).
 */
import { expect } from 'chai';
import { dualPair } from './helpers/dual-pair.js';
import type { TzServer } from '../src/tcp/server.js';
import type { TzSocket } from '../src/tcp/socket.js';

const A6 = 'fd00:8::1';
const A6b = 'fd00:8::11';
const B6 = 'fd00:8::2';

function pair() {
  return dualPair({
    ip4: ['10.8.0.1/24', '10.8.0.2/24'], ip6: [[`${A6}/64`, `${A6b}/64`], [`${B6}/64`]],
    nd: { routerSolicitations: 0, dadTransmits: 0 }, tcp: { timeWaitMs: 100 },
  });
}

/** Listen and wait for 'listening' or 'error': the error code, or 'ok'. */
async function listenResult(p: ReturnType<typeof pair>, srv: TzServer, args: Parameters<TzServer['listen']>): Promise<string> {
  let r = '';
  srv.once('error', (e: Error & { code?: string }) => { r = e.code ?? 'error'; });
  srv.once('listening', () => { r = 'ok'; });
  try { srv.listen(...args); } catch (e) { r = (e as { code?: string }).code ?? 'threw'; }
  await p.run(() => r !== '');
  return r;
}

describe('listening on one address', function () {
  this.timeout(60_000);

  it('a server on one IPv6 address takes connections to it only; two servers share a port on two addresses', async () => {
    const p = pair();
    const got: string[] = [];
    const tag = (name: string) => (s: TzSocket): void => { got.push(`${name}<-${s.localAddress}`); s.on('data', (d: Buffer) => s.end(d)); };
    const one = p.a.createServer(tag('one'));
    expect(await listenResult(p, one, [9000, A6])).to.equal('ok');
    const refusals: string[] = [];
    const tryConnect = (host: string): Promise<string> => new Promise((resolve) => {
      const c = p.b.connect(9000, host);
      let back = '';
      c.on('data', (d: Buffer) => { back += d.toString(); });
      c.on('error', (e: Error & { code?: string }) => resolve(e.code ?? 'error'));
      c.on('close', () => resolve(back));
      c.write(host);
    });
    const run = async (host: string): Promise<string> => {
      const pr = tryConnect(host);
      let v: string | undefined;
      void pr.then((x) => { v = x; });
      await p.run(() => v !== undefined);
      return v!;
    };
    expect(await run(A6)).to.equal(A6);
    refusals.push(await run(A6b), await run('10.8.0.1'));
    expect(refusals).to.deep.equal(['ECONNREFUSED', 'ECONNREFUSED']);
    const two = p.a.createServer(tag('two'));
    expect(await listenResult(p, two, [9000, A6b])).to.equal('ok');
    expect(two.address()).to.deep.equal({ address: A6b, family: 'IPv6', port: 9000 });
    // IPv4 on the same port: no conflict with listeners on IPv6 addresses.
    const four = p.a.createServer(tag('four'));
    expect(await listenResult(p, four, [9000, '0.0.0.0'])).to.equal('ok');
    expect(await run(A6b)).to.equal(A6b);
    expect(await run(A6)).to.equal(A6);
    expect(await run('10.8.0.1')).to.equal('10.8.0.1');
    expect(got).to.deep.equal([`one<-${A6}`, `two<-${A6b}`, `one<-${A6}`, 'four<-10.8.0.1']);
    // Closing one leaves the other bound.
    one.close();
    expect(await run(A6)).to.equal('ECONNREFUSED');
    expect(await run(A6b)).to.equal(A6b);
    two.close(); four.close();
    await p.run(() => p.a.tcp.connectionCount() === 0 && p.b.tcp.connectionCount() === 0);
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });

  it('EADDRINUSE as Linux: wildcard vs specific of one family, dual vs everything; different addresses or families do not conflict', async () => {
    const p = pair();
    type Args = Parameters<TzServer['listen']>;
    const cases: Array<{ first: Args; second: Args; want: string }> = [
      { first: [9100, '::'], second: [9100, A6], want: 'EADDRINUSE' },
      { first: [9101, A6], second: [9101, '::'], want: 'EADDRINUSE' },
      { first: [9102, A6], second: [9102, A6], want: 'EADDRINUSE' },
      { first: [9103, A6], second: [9103, A6b], want: 'ok' },
      { first: [9104, '::'], second: [9104, '0.0.0.0'], want: 'EADDRINUSE' },
      { first: [9105, '0.0.0.0'], second: [9105, '::'], want: 'EADDRINUSE' },
      { first: [{ port: 9106, host: '::', ipv6Only: true }], second: [9106, '0.0.0.0'], want: 'ok' },
      { first: [{ port: 9107, host: '::', ipv6Only: true }], second: [9107, A6], want: 'EADDRINUSE' },
      { first: [9108, '0.0.0.0'], second: [9108, '10.8.0.1'], want: 'EADDRINUSE' },
      { first: [9109, '10.8.0.1'], second: [9109, A6], want: 'ok' },
      { first: [9110, A6], second: [9110, '0.0.0.0'], want: 'ok' },
    ];
    const results: string[] = [];
    const servers: TzServer[] = [];
    for (const c of cases) {
      const s1 = p.a.createServer(() => {});
      const s2 = p.a.createServer(() => {});
      servers.push(s1, s2);
      expect(await listenResult(p, s1, c.first)).to.equal('ok');
      results.push(await listenResult(p, s2, c.second));
    }
    expect(results).to.deep.equal(cases.map((c) => c.want));
    for (const s of servers) if (s.listening) s.close();
    // Once closed, the address is free again.
    const again = p.a.createServer(() => {});
    expect(await listenResult(p, again, [9100, A6])).to.equal('ok');
    again.close();
    await p.a.close();
    await p.b.close();
    expect(p.pool.inUse()).to.equal(0);
  });
});
